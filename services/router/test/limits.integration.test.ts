import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { answerName, Harness, type Reply } from './support/harness.js';
import { waitFor } from './support/processes.js';

let h: Harness;
const REQUEST_TIMEOUT_MS = 600;

before(async () => {
  h = await Harness.start(
    { NAP_ROUTER_MAX_CONNS_PER_INSTANCE: '2', NAP_ROUTER_MAX_IN_FLIGHT: '6', NAP_ROUTER_IDLE_TIMEOUT_S: '1' },
    { limits: { requestTimeoutMs: REQUEST_TIMEOUT_MS } },
  );
});

after(async () => {
  await h?.stop();
});

/** A backend that holds every request until release() is called. */
async function holdingBackend(name: string) {
  const held: http.ServerResponse[] = [];
  const b = await h.backend(name, (_req, res) => void held.push(res));
  return {
    b,
    held,
    release: () => {
      for (const res of held.splice(0)) res.end(name);
    },
  };
}

const timed = async (p: Promise<Reply>) => {
  const t0 = performance.now();
  const reply = await p;
  return { reply, ms: performance.now() - t0 };
};

test('past its cap of requests in flight an instance is passed over, and with none left the answer is a quick 503', async () => {
  const a = await holdingBackend('cap-a');
  const b = await holdingBackend('cap-b');
  await h.route('cap.test', a.b, b.b);
  const four = [0, 1, 2, 3].map(() => h.request('cap.test'));
  await waitFor('two requests at each instance', () => a.held.length === 2 && b.held.length === 2);
  const { reply, ms } = await timed(h.request('cap.test'));
  assert.equal(reply.status, 503);
  assert.equal(reply.headers['x-nap-router-error'], 'no_endpoints');
  // Refused, not queued: it is answered before a request could even time out.
  assert.ok(ms < REQUEST_TIMEOUT_MS, `took ${ms} ms`);
  a.release();
  b.release();
  const bodies = (await Promise.all(four)).map((r) => r.body).sort();
  assert.deepEqual(bodies, ['cap-a', 'cap-a', 'cap-b', 'cap-b']);
  // Released: the instances take requests again.
  const again = h.request('cap.test');
  await waitFor('the request at an instance', () => a.held.length + b.held.length === 1);
  a.release();
  b.release();
  assert.equal((await again).status, 200);
});

test('past the router-wide cap requests are refused at once with 503 overloaded', async () => {
  const backends = await Promise.all([0, 1, 2].map((i) => holdingBackend(`busy-${i}`)));
  await h.route('busy.test', ...backends.map((x) => x.b));
  const six = [0, 1, 2, 3, 4, 5].map(() => h.request('busy.test'));
  await waitFor('six requests held', () => backends.every((x) => x.held.length === 2));
  assert.equal(h.router.metrics.inFlight, 6);
  const { reply, ms } = await timed(h.request('busy.test'));
  assert.equal(reply.status, 503);
  assert.equal(reply.headers['x-nap-router-error'], 'overloaded');
  // Refused, not queued: it is answered before a request could even time out.
  assert.ok(ms < REQUEST_TIMEOUT_MS, `took ${ms} ms`);
  // Even an unknown host is refused without a lookup: nothing more is taken on.
  assert.equal((await h.request('nowhere.test')).headers['x-nap-router-error'], 'overloaded');
  for (const x of backends) x.release();
  assert.ok((await Promise.all(six)).every((r) => r.status === 200));
  assert.equal((await h.request('nowhere.test')).headers['x-nap-router-error'], 'unknown_route');
});

test('an app that does not answer within the request timeout gets 504 timeout, and its connection is freed', async () => {
  const silent = await holdingBackend('silent');
  await h.route('silent.test', silent.b);
  let upstreamClosed = false;
  const pending = timed(h.request('silent.test'));
  await waitFor('the request at the app', () => silent.held.length === 1);
  silent.held[0].req.socket.once('close', () => (upstreamClosed = true));
  const { reply, ms } = await pending;
  assert.equal(reply.status, 504);
  assert.equal(reply.headers['x-nap-router-error'], 'timeout');
  assert.ok(ms >= 550 && ms < 2000, `took ${ms} ms`);
  await waitFor('the app connection closed', () => upstreamClosed, 1000);
  assert.equal(h.router.metrics.inFlight, 0);
});

test('an app that started answering but runs past the request timeout is cut off', async () => {
  const trickle = await h.backend('trickle', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('started');
  });
  await h.route('trickle.test', trickle);
  const t0 = performance.now();
  await assert.rejects(h.request('trickle.test'));
  const ms = performance.now() - t0;
  assert.ok(ms >= 550 && ms < 2000, `took ${ms} ms`);
});

test('an idle keep-alive client connection is closed after the idle timeout', async () => {
  const idle = await h.backend('idle', answerName());
  await h.route('idle.test', idle);
  // A raw socket: Node's own agent would close it first, having read `Keep-Alive: timeout=1`.
  const socket = net.connect(h.routerPort, '127.0.0.1');
  let received = '';
  let answeredAt = 0;
  let closedAt = 0;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    received += chunk;
    if (answeredAt === 0 && received.endsWith('\r\n\r\nidle')) answeredAt = performance.now();
  });
  socket.on('close', () => (closedAt = performance.now()));
  socket.write('GET / HTTP/1.1\r\nHost: idle.test\r\n\r\n');
  try {
    await waitFor('the answer', () => answeredAt > 0, 3000);
    assert.match(received, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(received, /\r\nKeep-Alive: timeout=1\r\n/i);
    await waitFor('the router to close the idle connection', () => closedAt > 0, 3000);
    const idleMs = closedAt - answeredAt;
    assert.ok(idleMs > 800 && idleMs < 2500, `closed after ${idleMs} ms`);
  } finally {
    socket.destroy();
  }
});
