// Pipelining, early answers and app connections that misbehave, met on the wire: each test here
// came out of a review of the router's own HTTP/1.x serving (client-connection, request-parser,
// proxy, upstream-connection) and failed before the fix beside it.
import assert from 'node:assert/strict';
import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { MAX_HELD_BYTES } from '../src/http1/request-parser.js';
import { Harness } from './support/harness.js';
import { sleep, waitFor } from './support/processes.js';
import { destroyRawClients, header, RawClient } from './support/raw-client.js';

let h: Harness;
const MB = 1024 * 1024;
const servers: net.Server[] = [];

before(async () => {
  h = await Harness.start();
});

after(async () => {
  destroyRawClients();
  for (const s of servers) s.close();
  await h?.stop();
});

/** A `net` app routed at `host`: `respond` gets each request head (requests here have no body) and writes what it likes. */
async function rawApp(host: string, respond: (head: string, socket: net.Socket) => void): Promise<void> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        respond(head, socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  await h.route(host, { port: (server.address() as AddressInfo).port, name: host });
}

/** An app answering `METHOD url` after `delayMs`, with the length of the body it read. */
async function echoApp(host: string, delayMs = 0): Promise<void> {
  const app = await h.backend(host, (req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => setTimeout(() => res.end(`${req.method} ${req.url} ${n}`), delayMs));
  });
  await h.route(host, app);
}

test('a malformed request pipelined behind a proxied one is refused with 400 once the first is answered, and the router lives on', async () => {
  await echoApp('held-garbage.test', 50);
  const c = await RawClient.connect(h.routerPort);
  c.write('GET /first HTTP/1.1\r\nHost: held-garbage.test\r\n\r\nnot a request\r\n\r\n');
  const first = await c.response();
  assert.equal(first.body.toString(), 'GET /first 0');
  const refused = await c.response();
  assert.equal(refused.status, 400);
  assert.ok(await c.closed(), 'the connection stayed open after a malformed request');
  c.destroy();
  assert.equal((await h.request('held-garbage.test', { path: '/after' })).body, 'GET /after 0');
});

test('thousands of pipelined requests the router answers itself, held behind a proxied one, are all answered in order', async () => {
  await echoApp('held-many.test', 50);
  const one = 'GET /x HTTP/1.1\r\nHost:nowhere.test\r\n\r\n';
  // About twice what the parser holds before it stops reading: all of it parsed in one go.
  const count = Math.ceil((2 * MAX_HELD_BYTES) / one.length);
  const c = await RawClient.connect(h.routerPort);
  c.write(`GET /first HTTP/1.1\r\nHost: held-many.test\r\n\r\n${one.repeat(count)}`);
  assert.equal((await c.response()).body.toString(), 'GET /first 0');
  for (let i = 0; i < count; i++) assert.equal((await c.response()).status, 404, `request ${i}`);
  c.write('GET /last HTTP/1.1\r\nHost: held-many.test\r\n\r\n');
  assert.equal((await c.response()).body.toString(), 'GET /last 0');
  c.destroy();
});

test('a POST pipelined behind a GET, with more than the parser holds, has its whole body read and is answered', async () => {
  await echoApp('held-post.test', 50);
  const body = Buffer.alloc(4 * MAX_HELD_BYTES, 'b');
  const c = await RawClient.connect(h.routerPort);
  c.write('GET /first HTTP/1.1\r\nHost: held-post.test\r\n\r\n');
  c.write(`POST /second HTTP/1.1\r\nHost: held-post.test\r\nContent-Length: ${body.length}\r\n\r\n`);
  c.write(body);
  assert.equal((await c.response()).body.toString(), 'GET /first 0');
  assert.equal((await c.response()).body.toString(), `POST /second ${body.length}`);
  c.destroy();
  await waitFor('no requests in flight', () => h.router.metrics.inFlight === 0);
});

test('a router error to a request waiting for 100 Continue closes the connection: the body may never come', async () => {
  await echoApp('continue-next.test');
  const c = await RawClient.connect(h.routerPort);
  c.write('POST /up HTTP/1.1\r\nHost: nowhere.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
  const r = await c.response();
  assert.equal(r.status, 404);
  assert.match(header(r, 'connection') ?? '', /^close$/i);
  // A client that skips its body and goes on would have its next request read as that body.
  c.write('GET /next HTTP/1.1\r\nHost: continue-next.test\r\n\r\n');
  assert.ok(await c.closed(), 'the connection stayed open');
  c.destroy();
});

test('an HTTP/1.0 request with Expect: 100-continue gets no 100 (1.0 has no interim answers), just its answer', async () => {
  await echoApp('continue-ten.test');
  const c = await RawClient.connect(h.routerPort);
  c.write('POST /up HTTP/1.0\r\nHost: continue-ten.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello');
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'POST /up 5');
  c.destroy();
});

test("the router's own answer to a HEAD request has no body, and the connection serves the next request", async () => {
  await echoApp('head-next.test');
  const c = await RawClient.connect(h.routerPort);
  c.write('HEAD /x HTTP/1.1\r\nHost: nowhere.test\r\n\r\n');
  const r = await c.response({ head: true });
  assert.equal(r.status, 404);
  c.write('GET /next HTTP/1.1\r\nHost: head-next.test\r\n\r\n');
  const next = await c.response();
  assert.equal(next.status, 200);
  assert.equal(next.body.toString(), 'GET /next 0');
  c.destroy();
});

test("bytes an app sends after a complete response are not taken for the answer to the client's next, pipelined request", async () => {
  await rawApp('trailing.test', (head, socket) => {
    const path = head.split(' ')[1];
    const answer = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    socket.write(path === '/one' ? answer('one') + answer('smuggled') : answer(path));
  });
  const c = await RawClient.connect(h.routerPort);
  c.write('GET /one HTTP/1.1\r\nHost: trailing.test\r\n\r\nGET /two HTTP/1.1\r\nHost: trailing.test\r\n\r\n');
  assert.equal((await c.response()).body.toString(), 'one');
  assert.equal((await c.response()).body.toString(), '/two');
  c.destroy();
});

test("a client that pipelines requests but does not read the router's own answers is not read further until it does", async () => {
  const one = 'GET /x HTTP/1.1\r\nHost:nowhere.test\r\n\r\n';
  const count = 200_000;
  const answered = () => h.router.metrics.errors.unknown_route;
  const before = answered();
  const socket = net.connect(h.routerPort, '127.0.0.1');
  socket.on('error', () => {});
  let bytes = 0;
  socket.on('data', (c: Buffer) => (bytes += c.length));
  socket.pause();
  socket.write(one.repeat(count));
  // Answered until what the kernel holds for the client is full, then no more.
  for (let last = -1; answered() !== last; ) {
    last = answered();
    await sleep(300);
  }
  assert.ok(answered() - before < count / 2, `${answered() - before} of ${count} answered to a client reading none of them`);
  // Reading, the client gets every answer.
  socket.resume();
  await waitFor('every answer', () => answered() - before === count, 20_000);
  socket.destroy();
});

test("an app's early answer to a large upload reaches a client that reads only once it has sent more", async () => {
  const app = await h.backend('early-answer.test', (_req, res) => {
    res.statusCode = 413;
    res.end('too large');
  });
  await h.route('early-answer.test', app);
  for (let i = 0; i < 5; i++) {
    const c = await RawClient.connect(h.routerPort);
    c.socket.pause();
    c.write(`POST /up HTTP/1.1\r\nHost: early-answer.test\r\nContent-Length: ${64 * MB}\r\n\r\n`);
    c.write(Buffer.alloc(8 * MB, 'x'));
    await sleep(200);
    c.socket.resume();
    // The router closes rather than read 64 MB, but not with the client's bytes unread: that is
    // a reset, and the client's kernel drops the answer it holds.
    const r = await c.response();
    assert.equal(r.status, 413, `try ${i}`);
    assert.equal(r.body.toString(), 'too large');
    assert.ok(await c.closed(), 'the connection stayed open');
    c.destroy();
  }
});

test('an upgrade request reaches a websocket app with repeated Cookie headers joined as cookies are, and any header name as sent', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', r));
  const upgrades: http.IncomingMessage[] = [];
  wss.on('connection', (ws, req) => {
    upgrades.push(req);
    ws.close();
  });
  try {
    await h.route('ws-headers.test', { port: (wss.address() as AddressInfo).port, name: 'ws-headers' });
    const c = await RawClient.connect(h.routerPort);
    c.write(
      'GET /chat HTTP/1.1\r\nHost: ws-headers.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: a=1\r\nCookie: b=2\r\nConstructor: x\r\n\r\n',
    );
    assert.equal((await c.response({ head: true })).status, 101);
    c.destroy();
    assert.equal(upgrades.length, 1);
    assert.equal(upgrades[0].headers.cookie, 'a=1; b=2');
    assert.equal(upgrades[0].headers.constructor, 'x');
  } finally {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((r) => wss.close(r));
  }
});

test('an upgrade to another protocol than websocket (h2c) is declined: the request is answered in HTTP/1.1', async () => {
  const app = await h.backend('h2c.test', (req, res) => res.end(`${req.method} ${req.url} upgrade=${req.headers.upgrade ?? 'none'}`));
  await h.route('h2c.test', app);
  const c = await RawClient.connect(h.routerPort);
  c.write('GET /h2 HTTP/1.1\r\nHost: h2c.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'GET /h2 upgrade=none');
  assert.equal(app.requests[0].headers['http2-settings'], undefined);
  c.destroy();
});

test('a Content-Length named in the Connection header still goes to the app with the body: the body is not read as a request of its own', async () => {
  const app = await h.backend('conn-length.test', (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => res.end(`${req.method} ${req.url} ${JSON.stringify(body)}`));
  });
  await h.route('conn-length.test', app);
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: conn-length.test\r\n\r\n';
  const c = await RawClient.connect(h.routerPort);
  c.write(`POST /form HTTP/1.1\r\nHost: conn-length.test\r\nConnection: content-length\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`);
  const r = await c.response();
  assert.equal(r.body.toString(), `POST /form ${JSON.stringify(smuggled)}`);
  c.destroy();
  await sleep(100);
  assert.deepEqual(app.requests.map((req) => req.url), ['/form']);
});

test("an app's Content-Length named in its Connection header still frames its answer to the client", async () => {
  await rawApp('app-conn-length.test', (head, socket) => {
    const path = head.split(' ')[1];
    socket.write(`HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
  });
  const c = await RawClient.connect(h.routerPort);
  for (const path of ['/one', '/two']) {
    c.write(`GET ${path} HTTP/1.1\r\nHost: app-conn-length.test\r\n\r\n`);
    const r = await c.response();
    assert.equal(r.framing, 'length', path);
    assert.equal(r.body.toString(), path);
  }
  c.destroy();
});

test('an app whose answer breaks its chunk framing in the read that brought its head gets the client a 502, not a cut connection', async () => {
  await rawApp('broken-chunks.test', (_head, socket) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n'));
  const c = await RawClient.connect(h.routerPort);
  c.write('GET / HTTP/1.1\r\nHost: broken-chunks.test\r\n\r\n');
  const r = await c.response();
  assert.equal(r.status, 502);
  assert.equal(header(r, 'x-nap-router-error'), 'endpoint_failure');
  c.destroy();
});

test('a request target that is neither a path, an http(s) URL nor * for OPTIONS is refused with 400', async () => {
  let reached = 0;
  await rawApp('target-form.test', (_head, socket) => {
    reached++;
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  for (const target of ['target-form.test:80', 'x', '*']) {
    const c = await RawClient.connect(h.routerPort);
    c.write(`GET ${target} HTTP/1.1\r\nHost: target-form.test\r\n\r\n`);
    const r = await c.response();
    assert.equal(r.status, 400, target);
    c.destroy();
  }
  assert.equal(reached, 0);
});

test("an app's transfer codings other than chunked stay announced: the client is told gzip, chunked, whether the app chunked or ended with its connection", async () => {
  const coded = Buffer.from('not really gzip, but coded bytes all the same');
  await rawApp('te-kept.test', (head, socket) => {
    if (head.startsWith('GET /chunked ')) {
      socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${coded.length.toString(16)}\r\n`);
      socket.write(coded);
      socket.write('\r\n0\r\n\r\n');
    } else {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n');
      socket.end(coded);
    }
  });
  for (const path of ['/chunked', '/until-close']) {
    const c = await RawClient.connect(h.routerPort);
    c.write(`GET ${path} HTTP/1.1\r\nHost: te-kept.test\r\n\r\n`);
    const r = await c.response();
    assert.equal(r.status, 200, path);
    assert.equal(header(r, 'transfer-encoding'), 'gzip, chunked', path);
    assert.equal(r.framing, 'chunked', path);
    assert.deepEqual(r.body, coded, path);
    c.destroy();
  }
});
