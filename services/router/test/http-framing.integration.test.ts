// HTTP/1.1 framing end to end through the router: how a message's length is known (Content-Length,
// chunked, connection close, no body at all), what that means for the connections on both sides,
// and which headers cross. Apps that must send exact bytes are raw `net` servers; clients that must
// send exact bytes, or read a connection's responses one by one, use RawClient (support/raw-client).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Harness, type Handler } from './support/harness.js';
import { destroyRawClients, header, RawClient, READ_TIMEOUT_MS, values } from './support/raw-client.js';
import { sleep } from './support/processes.js';

let h: Harness;
const rawApps: RawApp[] = [];
const agents = new Set<http.Agent>();

before(async () => {
  h = await Harness.start();
});

after(async () => {
  destroyRawClients();
  for (const a of agents) a.destroy();
  await Promise.all(rawApps.map((a) => a.close()));
  await h?.stop();
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const MB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// A raw app: a `net` server that hands each request head (requests here carry no body) to
// `respond`, which writes whatever bytes it likes.

interface RawApp {
  name: string;
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Every request head received, in order, without the final blank line. */
  heads: string[];
  close(): Promise<void>;
}

async function rawApp(
  name: string,
  respond: (head: string, socket: net.Socket, app: RawApp) => void,
  onConnect?: (socket: net.Socket) => void,
): Promise<RawApp> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    app.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (onConnect) return onConnect(socket);
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        app.heads.push(head);
        respond(head, socket, app);
      }
    });
  });
  const app: RawApp = {
    name,
    port: 0,
    connections: 0,
    heads: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  app.port = (server.address() as AddressInfo).port;
  rawApps.push(app);
  return app;
}

/** A request head's header lines as [name, value] pairs, names as sent. */
function headLines(head: string): { line: string; headers: [string, string][] } {
  const [line, ...rest] = head.split('\r\n');
  return { line, headers: rest.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]) };
}

/** Writes `parts` one after another with a pause between them, so they cross the wire apart. */
async function dribble(socket: net.Socket, parts: (string | Buffer)[], gapMs = 15): Promise<void> {
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) await sleep(gapMs);
    if (socket.destroyed) return;
    socket.write(parts[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// Node clients, for what they do well: big bodies, keep-alive agents, streaming.

interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  localPort: number;
  complete: boolean;
}

/**
 * One request through the router. `body` as an array is sent chunked (no Content-Length), one
 * piece per write. Resolves when the response closes, complete or not; rejects if none came.
 */
function fetchVia(
  host: string,
  opts: { agent?: http.Agent; method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | Buffer[]; onData?: (c: Buffer) => void } = {},
): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { host, ...opts.headers };
    if (Buffer.isBuffer(opts.body)) headers['content-length'] = opts.body.length;
    const req = http.request(
      { host: '127.0.0.1', port: h.routerPort, method: opts.method ?? 'GET', path: opts.path ?? '/', headers, agent: opts.agent ?? false },
      (res) => {
        const localPort = res.socket.localPort ?? 0;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          parts.push(c);
          opts.onData?.(c);
        });
        res.on('error', () => {});
        res.on('close', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), localPort, complete: res.complete }),
        );
      },
    );
    req.setTimeout(READ_TIMEOUT_MS, () => req.destroy(new Error('timed out waiting for the router')));
    req.on('error', reject);
    if (Array.isArray(opts.body)) {
      const pieces = opts.body;
      void (async () => {
        for (const p of pieces) {
          req.write(p);
          await new Promise((r) => setImmediate(r));
        }
        req.end();
      })();
    } else {
      req.end(opts.body);
    }
  });
}

function keepAliveAgent(): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  agents.add(agent);
  return agent;
}

/** An app that answers with the length and sha256 of the body it received, and what framed it. */
const hashBody: Handler = (req, res) => {
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (c: Buffer) => {
    hash.update(c);
    length += c.length;
  });
  req.on('end', () =>
    res.end(JSON.stringify({ length, sha256: hash.digest('hex'), contentLength: req.headers['content-length'] ?? null })),
  );
};

// ---------------------------------------------------------------------------------------------
// 1. Chunked responses

test('a chunked response written in pieces with pauses is streamed to the client as it comes, and arrives whole', async () => {
  let clientGotFirst!: () => void;
  const firstSeen = new Promise<void>((r) => (clientGotFirst = r));
  let streamed = false;
  const app = await h.backend('chunked', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('one-');
    void (async () => {
      // The rest waits until the client has the first piece: a router that buffered would stall here.
      streamed = await Promise.race([firstSeen.then(() => true), sleep(1000).then(() => false)]);
      res.write('two-');
      await sleep(30);
      res.write('three-');
      await sleep(30);
      res.end('four');
    })();
  });
  await h.route('chunked.test', app);
  let first = true;
  const r = await fetchVia('chunked.test', {
    onData: () => {
      if (first) clientGotFirst();
      first = false;
    },
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'one-two-three-four');
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.equal(r.headers['content-length'], undefined);
  assert.ok(streamed, 'the first chunk only reached the client after the app had finished');
});

test('a 1 MB chunked response arrives byte for byte', async () => {
  const data = randomBytes(MB);
  const app = await h.backend('chunked-big', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    void (async () => {
      for (let at = 0; at < data.length; at += 64 * 1024) {
        res.write(data.subarray(at, at + 64 * 1024));
        if (at % (256 * 1024) === 0) await sleep(5);
      }
      res.end();
    })();
  });
  await h.route('chunked-big.test', app);
  const r = await fetchVia('chunked-big.test');
  assert.equal(r.status, 200);
  assert.ok(r.complete);
  assert.equal(r.body.length, MB);
  assert.equal(sha256(r.body), sha256(data));
});

test('chunk extensions, hex sizes, chunks split across packets and trailers are read right; both connections stay usable', async () => {
  const app = await rawApp('chunked-raw', (_head, socket) => {
    void dribble(socket, [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n',
      '4;name=val\r\nWi',
      'ki\r\nA',
      '\r\npedia in c\r\n',
      '0\r\nX-Trailer: 1\r\n',
      '\r\n',
    ]);
  });
  await h.route('chunked-raw.test', app);
  const c = await RawClient.connect(h.routerPort);
  for (let i = 0; i < 2; i++) {
    c.write('GET / HTTP/1.1\r\nHost: chunked-raw.test\r\n\r\n');
    const r = await c.response();
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'Wikipedia in c');
  }
  // The trailer was consumed, so the router could reuse its connection to the app.
  assert.equal(app.connections, 1);
  assert.equal(app.heads.length, 2);
  c.destroy();
});

// 2. Content-Length

test('a 5 MB Content-Length response arrives intact with its length, and the client connection then serves another request', async () => {
  const data = randomBytes(5 * MB);
  const app = await h.backend('big', (req, res) => {
    if (req.url === '/small') return res.end('small');
    res.writeHead(200, { 'content-length': data.length, 'content-type': 'application/octet-stream' });
    res.end(data);
  });
  await h.route('big.test', app);
  const agent = keepAliveAgent();
  const big = await fetchVia('big.test', { agent, path: '/big' });
  assert.equal(big.status, 200);
  assert.equal(big.headers['content-length'], String(data.length));
  assert.equal(big.headers['transfer-encoding'], undefined);
  assert.equal(big.body.length, data.length);
  assert.equal(sha256(big.body), sha256(data));
  const small = await fetchVia('big.test', { agent, path: '/small' });
  assert.equal(small.body.toString(), 'small');
  assert.equal(small.localPort, big.localPort, 'the second request went on a new client connection');
  agent.destroy();
});

// 3. Close-delimited

test('a response delimited by the app closing its connection arrives whole, and the next request gets a new connection to the app', async () => {
  const data = randomBytes(300 * 1024);
  const app = await rawApp('close', (_head, socket) => {
    void dribble(socket, [
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n\r\n',
      data.subarray(0, 1000),
      data.subarray(1000, 100_000),
      data.subarray(100_000),
    ]).then(() => socket.end());
  });
  await h.route('close.test', app);
  const first = await fetchVia('close.test');
  assert.equal(first.status, 200);
  assert.ok(first.complete);
  assert.equal(first.body.length, data.length);
  assert.equal(sha256(first.body), sha256(data));
  const second = await fetchVia('close.test');
  assert.equal(second.status, 200);
  assert.equal(sha256(second.body), sha256(data));
  assert.equal(app.connections, 2);
});

// 4. HEAD

test('a HEAD answer keeps its Content-Length without a body, and both connections carry on with the next request', async () => {
  const app = await rawApp('head', (head, socket) => {
    if (head.startsWith('HEAD ')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello');
  });
  await h.route('head.test', app);
  const c = await RawClient.connect(h.routerPort);
  c.write('HEAD /file HTTP/1.1\r\nHost: head.test\r\n\r\n');
  const head = await c.response({ head: true });
  assert.equal(head.status, 200);
  assert.equal(header(head, 'content-length'), '1234');
  assert.equal(header(head, 'transfer-encoding'), undefined);
  c.write('GET /file HTTP/1.1\r\nHost: head.test\r\n\r\n');
  const get = await c.response();
  assert.equal(get.status, 200);
  assert.equal(get.body.toString(), 'hello');
  // The router did not wait for 1234 bytes after the HEAD answer: it reused the same connection.
  assert.equal(app.connections, 1);
  c.destroy();
});

// 5. 204 and 304

test('204 and 304 answers pass through without a body, and the connection carries on', async () => {
  const app = await rawApp('nobody', (head, socket) => {
    const path = head.split(' ')[1];
    if (path === '/204') socket.write('HTTP/1.1 204 No Content\r\nX-Deleted: yes\r\n\r\n');
    // A 304 may state the length of what it stands for; that is no body either.
    else if (path === '/304') socket.write('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 10\r\n\r\n');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  await h.route('nobody.test', app);
  const c = await RawClient.connect(h.routerPort);
  c.write('DELETE /204 HTTP/1.1\r\nHost: nobody.test\r\n\r\n');
  const noContent = await c.response();
  assert.equal(noContent.status, 204);
  assert.equal(header(noContent, 'x-deleted'), 'yes');
  assert.equal(header(noContent, 'transfer-encoding'), undefined);
  c.write('GET /304 HTTP/1.1\r\nHost: nobody.test\r\nIf-None-Match: "v1"\r\n\r\n');
  const notModified = await c.response();
  assert.equal(notModified.status, 304);
  assert.equal(header(notModified, 'etag'), '"v1"');
  assert.equal(header(notModified, 'transfer-encoding'), undefined);
  c.write('GET /ok HTTP/1.1\r\nHost: nobody.test\r\n\r\n');
  const ok = await c.response();
  assert.equal(ok.status, 200);
  assert.equal(ok.body.toString(), 'ok');
  assert.equal(app.connections, 1);
  c.destroy();
});

// 6. Request bodies

test('a 2 MB POST with Content-Length and a chunked POST both reach the app byte for byte', async () => {
  const app = await h.backend('upload', hashBody);
  await h.route('upload.test', app);
  const sized = randomBytes(2 * MB);
  const r1 = await fetchVia('upload.test', { method: 'POST', path: '/sized', body: sized });
  assert.equal(r1.status, 200);
  assert.deepEqual(JSON.parse(r1.body.toString()), { length: sized.length, sha256: sha256(sized), contentLength: String(sized.length) });

  const pieces = Array.from({ length: 24 }, (_, i) => randomBytes(1000 + i * 3001));
  const all = Buffer.concat(pieces);
  const r2 = await fetchVia('upload.test', { method: 'POST', path: '/chunked', body: pieces });
  assert.equal(r2.status, 200);
  const seen = JSON.parse(r2.body.toString());
  assert.equal(seen.length, all.length);
  assert.equal(seen.sha256, sha256(all));
  assert.equal(app.requests.at(-1)!.headers['transfer-encoding'], 'chunked');
});

test('a chunked request body with extensions and a trailer, written by hand, reaches the app whole', async () => {
  const app = await h.backend('upload-raw', hashBody);
  await h.route('upload-raw.test', app);
  const c = await RawClient.connect(h.routerPort);
  c.write('POST /raw HTTP/1.1\r\nHost: upload-raw.test\r\nTransfer-Encoding: chunked\r\n\r\n');
  c.write('5;x=y\r\nhello\r\n');
  await sleep(20);
  c.write('1\r\n \r\nB\r\nchunked wor\r\n2\r\nld\r\n0\r\nX-Sum: 1\r\n\r\n');
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body.toString()), { length: 19, sha256: sha256('hello chunked world'), contentLength: null });
  c.destroy();
});

// 7. Expect: 100-continue

test('a POST with Expect: 100-continue gets a 100 before it sends its body, then its answer; the app gets the body', async () => {
  const app = await h.backend('continue', hashBody);
  await h.route('continue.test', app);
  const body = randomBytes(64 * 1024);
  const c = await RawClient.connect(h.routerPort);
  c.write(`POST /up HTTP/1.1\r\nHost: continue.test\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`);
  const interim = await c.response();
  assert.equal(interim.status, 100);
  c.write(body);
  let final = await c.response();
  // More 1xx answers are allowed by the protocol; what matters is the final one.
  while (final.status < 200) final = await c.response();
  assert.equal(final.status, 200);
  assert.deepEqual(JSON.parse(final.body.toString()), { length: body.length, sha256: sha256(body), contentLength: String(body.length) });
  assert.equal(app.requests.length, 1);
  c.destroy();
});

// 8. Header fidelity

test('several Set-Cookie headers, mixed-case names and values and empty values all cross the router both ways', async () => {
  const app = await rawApp('headers', (_head, socket) => {
    socket.write(
      'HTTP/1.1 200 OK\r\n' +
        'Set-Cookie: a=1; Path=/\r\n' +
        'Set-Cookie: b=2; HttpOnly\r\n' +
        'set-cookie: c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT\r\n' +
        'X-MiXeD-Case: VaLuE With Case\r\n' +
        'X-Empty:\r\n' +
        'Content-Length: 2\r\n\r\nok',
    );
  });
  await h.route('headers.test', app);
  const c = await RawClient.connect(h.routerPort);
  c.write('GET / HTTP/1.1\r\nHost: headers.test\r\nX-Client-MiXeD: VaLuE With Case\r\nX-Client-Empty:\r\n\r\n');
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.deepEqual(values(r.headers, 'set-cookie'), ['a=1; Path=/', 'b=2; HttpOnly', 'c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
  assert.deepEqual(values(r.headers, 'x-mixed-case'), ['VaLuE With Case']);
  assert.deepEqual(values(r.headers, 'x-empty'), ['']);
  assert.equal(r.body.toString(), 'ok');
  const seen = headLines(app.heads[0]).headers;
  assert.deepEqual(values(seen, 'x-client-mixed'), ['VaLuE With Case']);
  assert.deepEqual(values(seen, 'x-client-empty'), ['']);
  c.destroy();
});

// 9. Hop-by-hop headers

test('hop-by-hop request headers (named in Connection, Keep-Alive, Proxy-Connection) do not reach the app; the rest do', async () => {
  const app = await h.backend('hop');
  await h.route('hop.test', app);
  const c = await RawClient.connect(h.routerPort);
  c.write(
    'GET /hop HTTP/1.1\r\nHost: hop.test\r\nConnection: X-Custom\r\nX-Custom: 1\r\nKeep-Alive: timeout=5\r\n' +
      'Proxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n',
  );
  const r = await c.response();
  assert.equal(r.status, 200);
  const seen = app.requests.at(-1)!.headers;
  assert.equal(seen['x-custom'], undefined);
  assert.equal(seen['keep-alive'], undefined);
  assert.equal(seen['proxy-connection'], undefined);
  assert.doesNotMatch(String(seen.connection ?? ''), /x-custom/i);
  assert.equal(seen['x-kept'], 'yes');
  // The client's connection is still open for another request.
  c.write('GET /again HTTP/1.1\r\nHost: hop.test\r\n\r\n');
  assert.equal((await c.response()).status, 200);
  assert.equal(app.requests.at(-1)!.url, '/again');
  c.destroy();
});

test(
  'TE is not passed to the app even when the client did not name it in Connection',
  async () => {
    const app = await h.backend('hop-te');
    await h.route('hop-te.test', app);
    const c = await RawClient.connect(h.routerPort);
    c.write('GET / HTTP/1.1\r\nHost: hop-te.test\r\nConnection: X-Custom\r\nX-Custom: 1\r\nTE: trailers\r\n\r\n');
    assert.equal((await c.response()).status, 200);
    assert.equal(app.requests.at(-1)!.headers.te, undefined, 'TE reached the app');
    c.destroy();
  },
);

test(
  'Keep-Alive and Proxy-Connection are not passed to the app when the client sent no Connection header',
  async () => {
    const app = await h.backend('hop-alone');
    await h.route('hop-alone.test', app);
    const c = await RawClient.connect(h.routerPort);
    c.write('GET / HTTP/1.1\r\nHost: hop-alone.test\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n\r\n');
    assert.equal((await c.response()).status, 200);
    const seen = app.requests.at(-1)!.headers;
    assert.equal(seen['keep-alive'], undefined, 'Keep-Alive reached the app');
    assert.equal(seen['proxy-connection'], undefined, 'Proxy-Connection reached the app');
    c.destroy();
  },
);

test(
  "an app's Connection: close and Keep-Alive do not close the client's keep-alive connection",
  async () => {
    const app = await rawApp('hop-res', (head, socket) => {
      socket.end(`HTTP/1.1 200 OK\r\nConnection: close\r\nKeep-Alive: timeout=1\r\nContent-Length: ${head.split(' ')[1].length}\r\n\r\n${head.split(' ')[1]}`);
    });
    await h.route('hop-res.test', app);
    const c = await RawClient.connect(h.routerPort);
    c.write('GET /first HTTP/1.1\r\nHost: hop-res.test\r\n\r\n');
    const first = await c.response();
    assert.equal(first.body.toString(), '/first');
    c.write('GET /second HTTP/1.1\r\nHost: hop-res.test\r\n\r\n');
    const second = await c.response();
    assert.equal(second.status, 200);
    assert.equal(second.body.toString(), '/second');
    assert.equal(app.connections, 2);
    assert.doesNotMatch(String(header(first, 'connection')), /close/i, 'the router passed on the app\'s Connection: close');
    c.destroy();
  },
);

test("an app announcing trailers (Trailer header) reaches the client, whole, with and without chunking", async () => {
  const app = await rawApp('trailer', (head, socket) => {
    if (head.startsWith('GET /sized ')) socket.write('HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nContent-Length: 5\r\n\r\nsized');
    else socket.write('HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nchunked\r\n0\r\nX-Sum: 7\r\n\r\n');
  });
  await h.route('trailer.test', app);
  const c = await RawClient.connect(h.routerPort);
  c.write('GET /sized HTTP/1.1\r\nHost: trailer.test\r\n\r\n');
  const sized = await c.response();
  assert.equal(sized.status, 200);
  assert.equal(sized.body.toString(), 'sized');
  c.write('GET /chunked HTTP/1.1\r\nHost: trailer.test\r\n\r\n');
  const chunked = await c.response();
  assert.equal(chunked.status, 200);
  assert.equal(chunked.body.toString(), 'chunked');
  c.destroy();
});

// 10. Apps that do not speak HTTP

test('an app answering garbage, or closing as soon as it accepts, gives 502 endpoint_failure and the router keeps serving', async () => {
  const garbage = await rawApp('garbage', (_head, socket) => socket.end('nonsense\r\n\r\n'));
  const hangup = await rawApp('hangup', () => {}, (socket) => socket.destroy());
  const plain = await h.backend('plain');
  await h.route('garbage.test', garbage);
  await h.route('hangup.test', hangup);
  await h.route('plain.test', plain);
  for (const host of ['garbage.test', 'hangup.test', 'garbage.test', 'hangup.test']) {
    const r = await h.request(host);
    assert.equal(r.status, 502, host);
    assert.equal(r.headers['x-nap-router-error'], 'endpoint_failure', host);
    assert.match(r.body, /^502 Bad Gateway/);
  }
  assert.equal(garbage.heads.length, 2);
  assert.ok(hangup.connections >= 2);
  const ok = await h.request('plain.test');
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'plain');
});

// 11. Apps dying mid-body

test('an app dying mid-body (short of its Content-Length, or before the last chunk) cuts the client off at once, and the router keeps serving', async () => {
  const short = await rawApp('short', (_head, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial');
    setTimeout(() => socket.destroy(), 20);
  });
  const unfinished = await rawApp('unfinished', (_head, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n');
    setTimeout(() => socket.destroy(), 20);
  });
  await h.route('short.test', short);
  await h.route('unfinished.test', unfinished);

  const started = Date.now();
  const a = await fetchVia('short.test');
  assert.equal(a.status, 200);
  assert.equal(a.headers['content-length'], '1000');
  assert.equal(a.complete, false, 'the truncated body looked complete to the client');
  assert.equal(a.body.toString(), 'partial');

  const b = await fetchVia('unfinished.test');
  assert.equal(b.status, 200);
  assert.equal(b.complete, false, 'the router ended the chunked body cleanly though the app never did');
  assert.equal(b.body.toString(), 'partial');
  assert.ok(Date.now() - started < 1000, 'the client was left waiting');

  assert.equal((await h.request('plain.test')).body, 'plain');
});

// 12. Pipelining

test('two requests pipelined on one connection get their answers in order, even when the second is ready first', async () => {
  const app = await h.backend('pipe', (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow'), 80);
    else res.end('fast');
  });
  await h.route('pipe.test', app);
  const c = await RawClient.connect(h.routerPort);
  c.write('GET /slow HTTP/1.1\r\nHost: pipe.test\r\n\r\nGET /fast HTTP/1.1\r\nHost: pipe.test\r\n\r\n');
  const one = await c.response();
  const two = await c.response();
  assert.deepEqual([one.status, one.body.toString()], [200, 'slow']);
  assert.deepEqual([two.status, two.body.toString()], [200, 'fast']);
  assert.deepEqual(app.requests.map((r) => r.url).sort(), ['/fast', '/slow']);
  c.destroy();
});

// 13. HTTP/1.0

test('an HTTP/1.0 client gets its answer without chunking and then the connection closed', async () => {
  const app = await h.backend('ten', (req, res) => {
    if (req.url === '/sized') return res.end('sized body');
    res.write('hello ');
    setTimeout(() => res.end('world'), 20);
  });
  await h.route('ten.test', app);
  for (const [path, body] of [
    ['/streamed', 'hello world'],
    ['/sized', 'sized body'],
  ]) {
    const c = await RawClient.connect(h.routerPort);
    c.write(`GET ${path} HTTP/1.0\r\nHost: ten.test\r\n\r\n`);
    const r = await c.response();
    assert.equal(r.status, 200, path);
    assert.notEqual(r.framing, 'chunked', `${path} was chunked to an HTTP/1.0 client`);
    assert.equal(r.body.toString(), body, path);
    assert.ok(await c.closed(), `${path}: the connection stayed open`);
    c.destroy();
  }
  // The router's connection to the app outlives the client's: a 1.0 client is no reason to close it.
  assert.equal(app.requests[0].socket, app.requests[1].socket);
});

// 14. Request targets

test('query strings reach the app verbatim, and an absolute-form request line reaches it in origin form', async () => {
  const app = await h.backend('target', (req, res) => res.end(req.url));
  await h.route('target.test', app);
  const c = await RawClient.connect(h.routerPort);
  const odd = '/search/a%20b?q=a%20b&x=%2F&empty=&arr[]=1&plus=a+b&utf=%C3%A9&q=again';
  c.write(`GET ${odd} HTTP/1.1\r\nHost: target.test\r\n\r\n`);
  assert.equal((await c.response()).body.toString(), odd);
  c.write('GET http://target.test/p?q=1 HTTP/1.1\r\nHost: target.test\r\n\r\n');
  const abs = await c.response();
  assert.equal(abs.status, 200);
  assert.equal(abs.body.toString(), '/p?q=1');
  assert.equal(app.requests.at(-1)!.url, '/p?q=1');
  assert.equal(app.requests.at(-1)!.headers.host, 'target.test');
  c.destroy();
});
