// What the router does with what clients send it, from the client's side of the wire: requests
// that could be read two ways (smuggling), malformed heads, oversized and stalled heads, error
// answers with a body still coming, keep-alive, aborted uploads, slow readers and odd targets.
// A hardened proxy refuses what it cannot read one way only, answers before the app sees anything,
// and closes the connection when it can no longer tell where the next request starts.
// Clients are raw sockets (support/raw-client) so the bytes sent and the answers read are exact.
// http-framing.integration covers pipelining, plain HTTP/1.0, 100-continue, chunked bodies,
// absolute-form targets and HEAD/204/304; this file does not repeat them.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { Harness, type Backend, type Handler } from './support/harness.js';
import { sleep, waitFor } from './support/processes.js';
import { destroyRawClients, header, RawClient, type RawResponse } from './support/raw-client.js';

let h: Harness;

before(async () => {
  h = await Harness.start();
});

after(async () => {
  destroyRawClients();
  await h?.stop();
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const MB = 1024 * 1024;

/** An app answering `METHOD url`, routed at `host`. */
async function echoApp(host: string, handler?: Handler): Promise<Backend> {
  const app = await h.backend(host, handler ?? ((req, res) => res.end(`${req.method} ${req.url}`)));
  await h.route(host, app);
  return app;
}

/**
 * Every request the app received, once a request of the test's own (GET /sentinel, on a fresh
 * connection) has gone through to it: anything the router passed on before has arrived by then.
 */
async function seenBy(app: Backend, host: string): Promise<string[]> {
  const r = await h.request(host, { path: '/sentinel' });
  assert.equal(r.status, 200, 'the sentinel request failed');
  return app.requests.map((req) => `${req.method} ${req.url}`);
}

/** Sends `bytes` on a new connection and expects a 400 and then the connection closed. */
async function refused(bytes: string, what: string, statuses: number[] = [400]): Promise<void> {
  const c = await RawClient.connect(h.routerPort);
  c.write(bytes);
  const r = await c.response();
  assert.ok(statuses.includes(r.status), `${what}: answered ${r.status}, wanted ${statuses.join(' or ')}`);
  assert.ok(await c.closed(), `${what}: the connection stayed open`);
  c.destroy();
}

// ---------------------------------------------------------------------------------------------
// 1. Request smuggling: framing that two parsers could read two ways

test('a request with both Content-Length and Transfer-Encoding: chunked is refused with 400, reaches no app, and the connection is closed', async () => {
  const app = await echoApp('smuggle.test');
  // Whichever framing a parser believed, the bytes after it would be read as a second request.
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: smuggle.test\r\n\r\n';
  await refused(
    `POST /cl-te HTTP/1.1\r\nHost: smuggle.test\r\nContent-Length: ${5 + smuggled.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    'Content-Length first',
  );
  await refused(
    `POST /te-cl HTTP/1.1\r\nHost: smuggle.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
    'Transfer-Encoding first',
  );
  assert.deepEqual(await seenBy(app, 'smuggle.test'), ['GET /sentinel']);
});

test('conflicting duplicate, non-numeric and negative Content-Lengths are refused with 400 and reach no app', async () => {
  const app = await echoApp('bad-length.test');
  const head = 'POST /bad HTTP/1.1\r\nHost: bad-length.test\r\n';
  await refused(`${head}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, 'Content-Length 5 and 6');
  await refused(`${head}Content-Length: 5, 6\r\n\r\nhello!`, 'Content-Length list 5, 6');
  await refused(`${head}Content-Length: abc\r\n\r\nhello`, 'non-numeric Content-Length');
  await refused(`${head}Content-Length: -5\r\n\r\nhello`, 'negative Content-Length');
  await refused(`${head}Content-Length: +5\r\n\r\nhello`, 'signed Content-Length');
  assert.deepEqual(await seenBy(app, 'bad-length.test'), ['GET /sentinel']);
});

test('a Transfer-Encoding list ending in another coding than chunked (chunked, gzip) is refused and reaches no app', async () => {
  const app = await echoApp('te-list.test');
  const c = await RawClient.connect(h.routerPort);
  c.write('POST /te HTTP/1.1\r\nHost: te-list.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  const r = await c.response();
  // The contract: a transfer coding other than chunked is 501, whatever its place in the list.
  assert.equal(r.status, 501, `answered ${r.status}`);
  assert.match(r.body.toString(), /transfer coding "gzip" is not supported/);
  assert.ok(await c.closed(), 'the connection stayed open');
  c.destroy();
  assert.deepEqual(await seenBy(app, 'te-list.test'), ['GET /sentinel']);
});

test(
  'a request whose only transfer coding is not chunked (gzip, identity) is refused before any app sees it',
  async () => {
    const app = await echoApp('te-only.test');
    for (const coding of ['gzip', 'identity']) {
      const c = await RawClient.connect(h.routerPort);
      c.write(`POST /${coding} HTTP/1.1\r\nHost: te-only.test\r\nTransfer-Encoding: ${coding}\r\n\r\nhello`);
      const r = await c.response();
      assert.equal(r.status, 501, `${coding}: answered ${r.status}`);
      assert.match(r.body.toString(), new RegExp(`transfer coding "${coding}" is not supported`));
      assert.ok(await c.closed(), `${coding}: the connection stayed open`);
      c.destroy();
    }
    assert.deepEqual(await seenBy(app, 'te-only.test'), ['GET /sentinel']);
  },
);

// ---------------------------------------------------------------------------------------------
// 2. Malformed heads

test(
  'a request with two Host headers is refused with 400 and reaches neither app',
  async () => {
    const first = await echoApp('first-host.test');
    const second = await echoApp('second-host.test');
    const c = await RawClient.connect(h.routerPort);
    c.write('GET /two-hosts HTTP/1.1\r\nHost: first-host.test\r\nHost: second-host.test\r\n\r\n');
    const r = await c.response();
    c.destroy();
    assert.equal(r.status, 400);
    assert.deepEqual(await seenBy(first, 'first-host.test'), ['GET /sentinel']);
    assert.deepEqual(await seenBy(second, 'second-host.test'), ['GET /sentinel']);
  },
);

test('header lines with a space before the colon, obs-fold continuations, NUL or a bare CR are refused with 400 and reach no app', async () => {
  const app = await echoApp('malformed.test');
  const cases: [string, string][] = [
    ['Host with a space before the colon', 'GET /a HTTP/1.1\r\nHost : malformed.test\r\n\r\n'],
    ['another header with a space before the colon', 'GET /b HTTP/1.1\r\nHost: malformed.test\r\nX-Foo : bar\r\n\r\n'],
    ['obs-fold with a space', 'GET /c HTTP/1.1\r\nHost: malformed.test\r\nX-Foo: bar\r\n baz\r\n\r\n'],
    ['obs-fold with a tab', 'GET /d HTTP/1.1\r\nHost: malformed.test\r\nX-Foo: bar\r\n\tbaz\r\n\r\n'],
    ['NUL in a value', 'GET /e HTTP/1.1\r\nHost: malformed.test\r\nX-Foo: b\0ar\r\n\r\n'],
    ['bare CR in a value', 'GET /f HTTP/1.1\r\nHost: malformed.test\r\nX-Foo: b\rar\r\n\r\n'],
  ];
  for (const [what, bytes] of cases) await refused(bytes, what);
  assert.deepEqual(await seenBy(app, 'malformed.test'), ['GET /sentinel']);
});

test('a garbage request line, or an unknown HTTP version, is refused (400, or 505 for the version) and the connection closed', async () => {
  const app = await echoApp('garbage-line.test');
  await refused('HELLO\r\n\r\n', 'HELLO');
  await refused('GET / HTTP/9.9\r\nHost: garbage-line.test\r\n\r\n', 'HTTP/9.9', [400, 505]);
  await refused('GET / FTP/1.1\r\nHost: garbage-line.test\r\n\r\n', 'FTP/1.1', [400, 505]);
  assert.deepEqual(await seenBy(app, 'garbage-line.test'), ['GET /sentinel']);
});

test(
  'a request head over 64 KiB gets 431 and the connection closed, and reaches no app',
  async () => {
    const app = await echoApp('big-head.test');
    await refused(`GET /big HTTP/1.1\r\nHost: big-head.test\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`, '100 KiB header', [431]);
    assert.deepEqual(await seenBy(app, 'big-head.test'), ['GET /sentinel']);
  },
);

test(
  'a client that sends part of a head and stalls is disconnected within about the idle timeout, and no app sees it',
  async () => {
    const slow = await Harness.start({ NAP_ROUTER_IDLE_TIMEOUT_S: '1' });
    try {
      const app = await slow.backend('stall');
      await slow.route('stall.test', app);
      const c = await RawClient.connect(slow.routerPort);
      let received = '';
      c.socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
      c.write('GET / HTTP/1.1\r\nHost: stall.test');
      // Idle timeout 1 s; the head timeout may be a second longer; a second more of grace.
      const closed = await c.closed(4000);
      c.destroy();
      assert.ok(closed, 'the stalled connection was still open after 4 s');
      if (received !== '') assert.match(received, /^HTTP\/1\.1 408 /, 'a stalled head may get 408 or nothing');
      assert.equal(app.requests.length, 0);
    } finally {
      await slow.stop();
    }
  },
);

// ---------------------------------------------------------------------------------------------
// 3. Router errors and the request body still to come

test('a 404 made while the client still has most of its body to send reaches it, and the connection does not hang', async () => {
  const app = await echoApp('after-404.test');
  const c = await RawClient.connect(h.routerPort);
  c.write('POST /upload HTTP/1.1\r\nHost: nowhere.test\r\nContent-Length: 100000\r\n\r\n0123456789');
  const notFound = await c.response();
  assert.equal(notFound.status, 404);
  assert.equal(header(notFound, 'x-nap-router-error'), 'unknown_route');
  // Either the router closes the connection, or it reads past the rest of the body and serves
  // the next request; answering neither would leave the client hanging.
  c.write(Buffer.alloc(100000 - 10, 'x'));
  c.write('GET /next HTTP/1.1\r\nHost: after-404.test\r\n\r\n');
  let next: RawResponse | undefined;
  try {
    next = await c.response({ timeoutMs: 3000 });
  } catch (err) {
    if (!c.isClosed) throw err;
  }
  if (next !== undefined) {
    assert.equal(next.status, 200);
    assert.equal(next.body.toString(), 'GET /next');
  }
  c.destroy();
});

test('after a 404 for a POST whose small body was sent whole, the same connection serves a request to a known host', async () => {
  await echoApp('after-small-404.test');
  const c = await RawClient.connect(h.routerPort);
  c.write('POST /form HTTP/1.1\r\nHost: nowhere.test\r\nContent-Length: 11\r\n\r\nhello world');
  const notFound = await c.response();
  assert.equal(notFound.status, 404);
  assert.equal(header(notFound, 'x-nap-router-error'), 'unknown_route');
  assert.ok(!c.isClosed, 'the router closed the connection after a fully read body');
  c.write('GET /known HTTP/1.1\r\nHost: after-small-404.test\r\n\r\n');
  const ok = await c.response();
  assert.equal(ok.status, 200);
  assert.equal(ok.body.toString(), 'GET /known');
  c.destroy();
});

// ---------------------------------------------------------------------------------------------
// 4. Keep-alive

test('50 requests one after another on one connection are all answered in order with keep-alive; Connection: close ends it', async () => {
  const app = await echoApp('keep.test');
  const c = await RawClient.connect(h.routerPort);
  for (let i = 0; i < 50; i++) {
    c.write(`GET /n/${i} HTTP/1.1\r\nHost: keep.test\r\n\r\n`);
    const r = await c.response();
    assert.equal(r.status, 200, `request ${i}`);
    assert.equal(r.body.toString(), `GET /n/${i}`);
    assert.match(header(r, 'connection') ?? '', /^keep-alive$/i, `request ${i}`);
  }
  c.write('GET /last HTTP/1.1\r\nHost: keep.test\r\nConnection: close\r\n\r\n');
  const last = await c.response();
  assert.equal(last.status, 200);
  assert.equal(last.body.toString(), 'GET /last');
  assert.match(header(last, 'connection') ?? '', /^close$/i);
  assert.ok(await c.closed(), 'the router left the connection open after Connection: close');
  assert.equal(app.requests.length, 51);
  c.destroy();
});

test('an HTTP/1.0 client asking for keep-alive keeps its connection for another request, and loses it after one without', async () => {
  await echoApp('ten-keep.test');
  const c = await RawClient.connect(h.routerPort);
  c.write('GET /one HTTP/1.0\r\nHost: ten-keep.test\r\nConnection: keep-alive\r\n\r\n');
  const one = await c.response();
  assert.equal(one.status, 200);
  assert.equal(one.framing, 'length');
  assert.equal(one.body.toString(), 'GET /one');
  assert.match(header(one, 'connection') ?? '', /^keep-alive$/i);
  c.write('GET /two HTTP/1.0\r\nHost: ten-keep.test\r\n\r\n');
  const two = await c.response();
  assert.equal(two.status, 200);
  assert.equal(two.body.toString(), 'GET /two');
  assert.ok(await c.closed(), 'the connection stayed open after an HTTP/1.0 request without keep-alive');
  c.destroy();
});

test('a request without a Host header has no route: 400 (empty_host for HTTP/1.0), the connection closed, no app reached', async () => {
  const app = await echoApp('no-host.test');
  const ten = await RawClient.connect(h.routerPort);
  ten.write('GET /ten HTTP/1.0\r\n\r\n');
  const r = await ten.response();
  assert.equal(r.status, 400);
  assert.equal(header(r, 'x-nap-router-error'), 'empty_host');
  assert.ok(await ten.closed(), 'the HTTP/1.0 connection stayed open');
  ten.destroy();
  // HTTP/1.1 requires Host (RFC 9112 §3.2).
  await refused('GET /eleven HTTP/1.1\r\n\r\n', 'HTTP/1.1 without Host');
  assert.deepEqual(await seenBy(app, 'no-host.test'), ['GET /sentinel']);
});

// ---------------------------------------------------------------------------------------------
// 5. Clients that go away, or read slowly

test("a client aborting mid-upload has the app's request closed soon, and the router's requests in flight return to 0", async () => {
  const app = await echoApp('abort-upload.test', (req) => req.resume());
  const c = await RawClient.connect(h.routerPort);
  c.write(`POST /upload HTTP/1.1\r\nHost: abort-upload.test\r\nContent-Length: ${MB}\r\n\r\n`);
  c.write(randomBytes(100 * 1024));
  await waitFor('the upload at the app', () => app.requests.length === 1);
  const req = app.requests[0];
  assert.equal(h.router.metrics.inFlight, 1);
  c.destroy();
  await waitFor("the app's request connection closed", () => req.socket.destroyed, 3000);
  assert.equal(req.complete, false, 'the app saw a complete body');
  await waitFor('no requests in flight', () => h.router.metrics.inFlight === 0, 3000);
});

test('a 20 MB answer to a client that reads only after a pause arrives intact', async () => {
  const data = randomBytes(20 * MB);
  await echoApp('slow-reader.test', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
    res.end(data);
  });
  const socket = net.connect(h.routerPort, '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write('GET /big HTTP/1.1\r\nHost: slow-reader.test\r\n\r\n');
    // Not reading: the kernel's buffers fill and the router has to hold back.
    await sleep(500);
    const whole = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      let bodyStart = -1;
      let expected = -1;
      const give = setTimeout(() => reject(new Error(`stalled after ${total} bytes`)), 30_000);
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        total += chunk.length;
        if (bodyStart < 0) {
          const sofar = Buffer.concat(chunks);
          const end = sofar.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = sofar.subarray(0, end).toString('latin1');
          assert.match(head, /^HTTP\/1\.1 200 /);
          const length = /\r\ncontent-length: *(\d+)/i.exec(head);
          if (!length) return reject(new Error(`no Content-Length in ${JSON.stringify(head)}`));
          bodyStart = end + 4;
          expected = bodyStart + Number(length[1]);
        }
        if (total >= expected) {
          clearTimeout(give);
          resolve(Buffer.concat(chunks).subarray(bodyStart));
        }
      });
      socket.on('close', () => reject(new Error(`closed after ${total} bytes`)));
    });
    assert.equal(whole.length, data.length);
    assert.equal(sha256(whole), sha256(data));
  } finally {
    socket.destroy();
  }
});

// ---------------------------------------------------------------------------------------------
// 6. Request targets and Host spelling

test('OPTIONS * reaches the app with the target * as sent', async () => {
  const app = await echoApp('options.test');
  const c = await RawClient.connect(h.routerPort);
  c.write('OPTIONS * HTTP/1.1\r\nHost: options.test\r\n\r\n');
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'OPTIONS *');
  assert.equal(app.requests.at(-1)!.url, '*');
  c.destroy();
});

test('a Host in mixed case with a port is routed to the lowercase host, and the app gets the Host as sent', async () => {
  const app = await echoApp('mixed.test');
  const c = await RawClient.connect(h.routerPort);
  c.write('GET /case HTTP/1.1\r\nHost: MiXeD.test:8080\r\n\r\n');
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'GET /case');
  assert.equal(app.requests.length, 1);
  assert.equal(app.requests[0].headers.host, 'MiXeD.test:8080');
  c.destroy();
});
