// Unit checks that came out of a review of the router's own HTTP/1.x parsers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseParser, type ResponseSink } from '../src/proxy/response-parser.js';

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
