// Unit checks that came out of a review of the router's own HTTP/1.x parsers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ClientConnection, type ConnectionOwner } from '../src/proxy/client-connection.js';
import type { ProxyExchange } from '../src/proxy/exchange.js';
import { ResponseParser, type ResponseSink } from '../src/http1/response-parser.js';

const b = (s: string) => Buffer.from(s, 'latin1');

test('a response followed by more bytes in the read that completes it is not done: its connection is not to be reused', () => {
  for (const raw of ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiX', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nX', 'HTTP/1.1 204 No Content\r\n\r\nX']) {
    const parser = new ResponseParser();
    let doneAtEnd: boolean | undefined;
    // What the proxy asks when the response ends, before the rest of the read is looked at.
    const sink: ResponseSink = { upstreamHead() {}, upstreamBody() {}, upstreamEnd: () => void (doneAtEnd = parser.done) };
    parser.start(sink, false);
    assert.throws(() => parser.execute(b(raw)), /after its response/);
    assert.equal(doneAtEnd, false, JSON.stringify(raw));
  }
  const parser = new ResponseParser();
  let doneAtEnd: boolean | undefined;
  parser.start({ upstreamHead() {}, upstreamBody() {}, upstreamEnd: () => void (doneAtEnd = parser.done) }, false);
  parser.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'));
  assert.equal(doneAtEnd, true);
});

test('a connection closed after its answer (Connection: close, HTTP/1.0) is not destroyed before a slow client has all of it', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    client.pause();
    const [socket] = (await once(server, 'connection')) as [net.Socket];
    const owner: ConnectionOwner<ProxyExchange> = { onRequest() {}, onUpgrade() {}, onRequestBody() {}, onRequestEnd() {}, onClientGone() {}, onConnectionClosed() {} };
    const conn = new ClientConnection<ProxyExchange>(socket, owner);
    // An answer larger than the kernel holds, to a client that reads none of it for a while.
    const x = { bytesOut: 0 } as ProxyExchange;
    conn.exchange = x;
    conn.responseComplete = false;
    conn.closeAfterResponse = true;
    const size = 64 * 1024 * 1024;
    conn.send(x, Buffer.alloc(size));
    conn.responseDone(x);
    await new Promise((r) => setTimeout(r, 1500));
    let received = 0;
    client.on('data', (c: Buffer) => (received += c.length));
    client.resume();
    await once(client, 'close');
    assert.equal(received, size);
  } finally {
    server.close();
  }
});
