import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { channels, msg } from '@nap/common';
import { Harness } from './support/harness.js';
import { sleep, waitFor } from './support/processes.js';

// Fast clocks: DEAs asked to register every 1 s, routes older than 1 s pruned, checked every 100 ms;
// after a reconnect, 2 s for DEAs to register before pruning resumes.
const registration = { minimumRegisterIntervalInSeconds: 1, pruneThresholdInSeconds: 1, pruneIntervalMs: 100, reconnectGraceMs: 2000 };

let h: Harness;
const starts: msg.RouterStart[] = [];

before(async () => {
  h = await Harness.start({}, { registration });
  h.bus.subscribe(channels.routerStart, (m) => void starts.push(m));
  await h.bus.flush();
});

after(async () => {
  await h?.stop();
});

test('routes not re-registered within the threshold are pruned; re-registered ones stay', async () => {
  const kept = await h.backend('kept');
  const dropped = await h.backend('dropped');
  await h.route('kept.test', kept);
  await h.route('dropped.test', dropped);
  const refresh = setInterval(() => h.register('kept.test', kept), 300);
  try {
    await waitFor('dropped.test pruned', () => h.poolSize('dropped.test') === 0, 3000);
    assert.equal(h.poolSize('kept.test'), 1);
  } finally {
    clearInterval(refresh);
  }
});

test('while NATS is down the table is kept and still routes; after it is back, router.start goes out and pruning waits one interval', async () => {
  const app = await h.backend('survivor');
  const stale = await h.backend('stale');
  await h.route('survivor.test', app);
  await h.route('stale.test', stale);
  const varz = async () => JSON.parse((await h.status('/varz')).body) as { nats: string; routes: number };
  assert.equal((await varz()).nats, 'connected');

  await h.nats.pause();
  await waitFor('the router to notice', () => h.router.report().natsConnected === false, 5000);
  assert.equal((await varz()).nats, 'disconnected');
  // Well past the 1 s threshold, with the prune timer firing every 100 ms.
  await sleep(2500);
  assert.equal(h.poolSize('survivor.test'), 1);
  assert.equal(h.poolSize('stale.test'), 1);
  assert.equal((await h.request('survivor.test')).body, 'survivor');

  const startsBefore = starts.length;
  await h.nats.start();
  await waitFor('the router to reconnect', () => h.router.report().natsConnected, 10_000);
  const back = Date.now();
  // Said at once and again halfway through the grace, for DEAs that reconnect later than the router.
  await waitFor('router.start again', () => starts.slice(startsBefore).some((s) => s.id === h.router.id), 5000);
  // Within the grace nothing is pruned; the DEA of survivor.test answers router.start.
  h.register('survivor.test', app);
  await sleep(Math.max(0, 1500 - (Date.now() - back)));
  assert.equal(h.poolSize('stale.test'), 1, 'pruned before the DEAs had an interval to register');
  const refresh = setInterval(() => h.register('survivor.test', app), 300);
  try {
    // Then pruning resumes: the route nobody re-registered goes, the other stays.
    await waitFor('stale.test pruned', () => h.poolSize('stale.test') === 0, 5000);
    assert.ok(Date.now() - back > 1500, 'pruned within the grace');
    assert.equal(h.poolSize('survivor.test'), 1);
    assert.equal((await varz()).nats, 'connected');
    assert.equal((await h.request('survivor.test')).body, 'survivor');
  } finally {
    clearInterval(refresh);
  }
});
