import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { Harness } from './support/harness.js';
import { freePort, waitFor } from './support/processes.js';

let h: Harness;
let echo: WebSocketServer;
let echoPort: number;
let lastUpgrade: http.IncomingMessage | undefined;
const here = fileURLToPath(new URL('.', import.meta.url));

before(async () => {
  h = await Harness.start();
  echo = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => echo.once('listening', r));
  echoPort = (echo.address() as AddressInfo).port;
  echo.on('connection', (ws, req) => {
    lastUpgrade = req;
    ws.send('welcome');
    ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
  });
  await h.route('ws.test', { port: echoPort, name: 'echo' });
});

after(async () => {
  for (const c of echo?.clients ?? []) c.terminate();
  await new Promise((r) => echo?.close(r));
  await h?.stop();
});

function open(host: string): WebSocket {
  const ws = new WebSocket(`ws://127.0.0.1:${h.routerPort}/chat`, { headers: { host } });
  ws.on('error', () => {});
  return ws;
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (d) => resolve(d.toString()));
    ws.once('close', () => reject(new Error('closed before a message')));
  });
}

/** The status and router error of a refused upgrade. */
function refusal(ws: WebSocket): Promise<{ status: number; error: string | undefined }> {
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, error: res.headers['x-nap-router-error'] as string | undefined });
      res.resume();
    });
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
  });
}

const closed = (ws: WebSocket) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

test('a websocket is proxied both ways, with the forwarding headers', async () => {
  const ws = open('WS.test:80');
  assert.equal(await nextMessage(ws), 'welcome');
  for (const text of ['hello', 'x'.repeat(100_000)]) {
    const reply = nextMessage(ws);
    ws.send(text);
    assert.equal(await reply, `echo:${text}`);
  }
  assert.equal(lastUpgrade!.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(lastUpgrade!.headers['x-forwarded-proto'], 'http');
  assert.match(String(lastUpgrade!.headers['x-vcap-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(h.router.metrics.websocketsOpen, 1);
  const done = closed(ws);
  ws.close();
  await done;
  await waitFor('the tunnel closed', () => h.router.metrics.websocketsOpen === 0);
});

test('an upgrade for an unknown host gets a plain 404 unknown_route', async () => {
  assert.deepEqual(await refusal(open('nowhere.test')), { status: 404, error: 'unknown_route' });
});

test('an upgrade to a dead instance gets 502 endpoint_failure, then 503 no_endpoints while it is marked', async () => {
  await h.route('deadws.test', { port: await freePort() });
  assert.deepEqual(await refusal(open('deadws.test')), { status: 502, error: 'endpoint_failure' });
  assert.deepEqual(await refusal(open('deadws.test')), { status: 503, error: 'no_endpoints' });
});

test('an app that refuses the upgrade has its answer passed on', async () => {
  const plain = await h.backend('plain', (_req, res) => {
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('no websockets here');
  });
  await h.route('plainws.test', plain);
  assert.deepEqual(await refusal(open('plainws.test')), { status: 403, error: undefined });
});

test('an app killed mid-socket closes the client socket, and the router lives on', async () => {
  const port = await freePort();
  const child = fork(join(here, 'support/ws-backend.js'), [String(port)], { stdio: 'ignore' });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', () => reject(new Error('the ws backend exited')));
    });
    await h.route('killed.test', { port, name: 'killed' });
    const ws = open('killed.test');
    assert.equal(await nextMessage(ws), 'welcome');
    const reply = nextMessage(ws);
    ws.send('before');
    assert.equal(await reply, 'echo:before');
    const done = closed(ws);
    process.kill(child.pid!, 'SIGKILL');
    const code = await done;
    assert.ok([1005, 1006].includes(code), `close code ${code}`);
    await waitFor('the tunnel counted closed', () => h.router.metrics.websocketsOpen === 0);
  } finally {
    child.kill('SIGKILL');
  }
  // Still serving, both kinds.
  const ws = open('ws.test');
  assert.equal(await nextMessage(ws), 'welcome');
  ws.terminate();
  assert.equal((await h.request('nowhere.test')).status, 404);
});

test('clients that vanish mid-handshake or mid-socket hurt nothing, and the app side is closed too', async () => {
  // Mid-handshake: an app that never answers the upgrade.
  const silent = await h.backend('silent-ws', () => {});
  await h.route('silentws.test', silent);
  const early = open('silentws.test');
  await waitFor('the upgrade at the app', () => silent.requests.length === 1);
  let appSideClosed = false;
  silent.requests[0].socket.once('close', () => (appSideClosed = true));
  early.terminate();
  await waitFor('the app side closed', () => appSideClosed, 2000);

  // Mid-socket.
  const ws = open('ws.test');
  assert.equal(await nextMessage(ws), 'welcome');
  const serverSide = [...echo.clients].at(-1)!;
  const serverClosed = new Promise<void>((r) => serverSide.once('close', () => r()));
  ws.terminate();
  await serverClosed;
  await waitFor('no tunnel left', () => h.router.metrics.websocketsOpen === 0);
  assert.equal((await h.request('nowhere.test')).status, 404);
});

test('the websockets to an instance that is lost are closed at once; a route merely withdrawn keeps its open ones', async () => {
  // Stands for an instance on a host that died: it stays silent, and only the health manager's `lost` says it is gone.
  const silent = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => silent.once('listening', r));
  const port = (silent.address() as AddressInfo).port;
  silent.on('connection', (ws) => ws.send('hello'));
  try {
    await h.route('silent.test', { port, name: 'silent' });
    const withdrawn = open('silent.test');
    assert.equal(await nextMessage(withdrawn), 'hello');
    // A DEA withdrawing the route before it stops the instance: the open socket finishes there.
    h.unregister('silent.test', { port, name: 'silent' });
    await waitFor('the withdrawal', () => h.poolSize('silent.test') === 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(withdrawn.readyState, WebSocket.OPEN, 'a withdrawn route closed its websocket');
    withdrawn.close();

    await h.route('silent.test', { port, name: 'silent' });
    const client = open('silent.test');
    assert.equal(await nextMessage(client), 'hello');
    const closed = new Promise<number>((r) => client.once('close', (code) => r(code)));
    const t0 = Date.now();
    h.unregister('silent.test', { port, name: 'silent' }, { lost: true });
    const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open after 5 s'), 5000))]);
    assert.equal(outcome, 'closed');
    assert.ok(Date.now() - t0 < 2000, `closed after ${Date.now() - t0} ms`);
  } finally {
    for (const c of silent.clients) c.terminate();
    await new Promise((r) => silent.close(r));
  }
});
