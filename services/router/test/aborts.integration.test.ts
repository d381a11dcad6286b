import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { Harness, type Backend } from './support/harness.js';
import { waitFor } from './support/processes.js';

let h: Harness;
let hung: Backend;
let arrived = 0;

before(async () => {
  h = await Harness.start();
  // An app that never answers: every request stays open at it until the router lets go.
  hung = await h.backend('hung', () => void arrived++, { record: false });
  await h.route('hung.test', hung);
});

after(async () => {
  await h?.stop();
});

const openFds = () => readdirSync('/proc/self/fd').length;
const appConnections = () => new Promise<number>((resolve, reject) => hung.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** `count` clients that each send a request, wait until the app has it, and then give up. */
async function abortBatch(count: number): Promise<void> {
  const target = arrived + count;
  const clients = Array.from({ length: count }, () => {
    const req = http.request({ host: '127.0.0.1', port: h.routerPort, headers: { host: 'hung.test' }, agent: false });
    req.on('error', () => {});
    req.end();
    return req;
  });
  await waitFor(`${count} requests at the app`, () => arrived >= target, 10_000);
  for (const c of clients) c.destroy();
}

async function settled(): Promise<void> {
  await waitFor('the router to let go of every request', () => h.router.metrics.inFlight === 0, 5000);
  const deadline = Date.now() + 5000;
  while ((await appConnections()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

// The heap those requests leave is measured by bench/src/router-aborts.ts (bench/results/
// router-aborts.md): a heap figure depends on the collector, and a test is no scale.
test('10,000 aborted requests leave no sockets or file descriptors behind', async () => {
  // Warm up, so that lazily made things (JIT, pools, buffers) are not counted as growth.
  for (let i = 0; i < 4; i++) await abortBatch(250);
  await settled();
  const fdsBefore = openFds();

  for (let i = 0; i < 40; i++) await abortBatch(250);
  await settled();

  assert.equal(h.router.metrics.inFlight, 0);
  assert.equal(await appConnections(), 0, 'app connections left open');
  const upstream = h.router.report().upstream;
  assert.equal(upstream.active, 0, 'agent sockets still busy');
  assert.equal(upstream.idle, 0, 'aborted sockets must not go back to the pool');
  const fdGrowth = openFds() - fdsBefore;
  assert.ok(fdGrowth <= 5, `${fdGrowth} more file descriptors`);
  // Every one was counted, as a client that closed before an answer.
  assert.ok(h.router.metrics.snapshot().responses['4xx'] >= 10_000);
  // And the router still answers.
  assert.equal((await h.request('nowhere.test')).status, 404);
});
