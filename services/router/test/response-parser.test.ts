import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  headerPairs,
  MAX_HEAD_BYTES,
  ResponseParseError,
  ResponseParser,
  type ResponseHead as ParsedHead,
  type ResponseSink,
} from '../src/http1/response-parser.js';

/** A head as these tests compare it: its header lines as name, value pairs. */
interface ResponseHead {
  status: number;
  reason: string;
  headers: string[];
  keepAlive: boolean;
  bodyLength: number;
}

/** Records what the parser hands on, and checks the order: one head, then body, then one end. */
class Recorder implements ResponseSink {
  heads: ResponseHead[] = [];
  chunks: Buffer[] = [];
  ends = 0;
  /** head/body/end in the order they came, runs of body collapsed. */
  order: string[] = [];
  onHead: ((head: ResponseHead) => void) | null = null;
  onBody: ((chunk: Buffer) => void) | null = null;

  upstreamHead(parsed: ParsedHead): void {
    const head: ResponseHead = {
      status: parsed.status,
      reason: parsed.reason,
      headers: headerPairs(parsed.lines),
      keepAlive: parsed.keepAlive,
      bodyLength: parsed.bodyLength,
    };
    this.heads.push(head);
    this.order.push('head');
    this.onHead?.(head);
  }
  upstreamBody(chunk: Buffer): void {
    assert.ok(chunk.length > 0, 'no empty body chunks');
    // Copied: the parser hands on slices of what it was given.
    this.chunks.push(Buffer.from(chunk));
    if (this.order[this.order.length - 1] !== 'body') this.order.push('body');
    this.onBody?.(chunk);
  }
  upstreamEnd(): void {
    this.ends++;
    this.order.push('end');
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

interface Outcome {
  heads: ResponseHead[];
  body: string;
  order: string[];
  done: boolean;
}

function outcome(sink: Recorder, parser: ResponseParser): Outcome {
  return { heads: sink.heads, body: sink.body, order: sink.order, done: parser.done };
}

/** Feeds the pieces to a fresh parser (one response); `close` then reports the app's close. */
function parse(pieces: Buffer[], opts: { headRequest?: boolean; close?: boolean } = {}) {
  const parser = new ResponseParser();
  const sink = new Recorder();
  parser.start(sink, opts.headRequest ?? false);
  for (const piece of pieces) parser.execute(piece);
  if (opts.close) parser.onClose();
  return { parser, sink, result: outcome(sink, parser) };
}

const b = (s: string) => Buffer.from(s, 'latin1');

/** The raw response whole, a byte at a time, and split in two at every position. */
function* splits(raw: Buffer): Generator<[string, Buffer[]]> {
  yield ['whole', [raw]];
  yield ['byte by byte', Array.from(raw, (_, i) => raw.subarray(i, i + 1))];
  for (let i = 0; i <= raw.length; i++) yield [`split at ${i}`, [raw.subarray(0, i), raw.subarray(i)]];
}

/** ...and in three at every pair of positions. */
function* splitsInThree(raw: Buffer): Generator<[string, Buffer[]]> {
  for (let i = 0; i <= raw.length; i++) {
    for (let j = i; j <= raw.length; j++) {
      yield [`split at ${i} and ${j}`, [raw.subarray(0, i), raw.subarray(i, j), raw.subarray(j)]];
    }
  }
}

function throwsParseError(fn: () => void, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ResponseParseError, `a ResponseParseError, got ${String(err)}`);
    assert.equal(err.code, 'EPROTO');
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

/** Parsing the head alone (no body expected) must throw. */
function headThrows(head: string, message?: RegExp): void {
  const parser = new ResponseParser();
  parser.start(new Recorder(), false);
  throwsParseError(() => parser.execute(b(head)), message);
}

test('a Content-Length body comes whole, and the same however the bytes are split', () => {
  const raw = b('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nX-Id: 7\r\n\r\nhello world');
  const expected: Outcome = {
    heads: [
      {
        status: 200,
        reason: 'OK',
        headers: ['Content-Type', 'text/plain', 'Content-Length', '11', 'X-Id', '7'],
        keepAlive: true,
        bodyLength: 11,
      },
    ],
    body: 'hello world',
    order: ['head', 'body', 'end'],
    done: true,
  };
  for (const [how, pieces] of splits(raw)) assert.deepEqual(parse(pieces).result, expected, how);
});

test('a Content-Length body handed on in one buffer is not copied', () => {
  const parser = new ResponseParser();
  const seen: Buffer[] = [];
  parser.start({ upstreamHead() {}, upstreamBody: (c) => seen.push(c), upstreamEnd() {} }, false);
  parser.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'));
  const body = b('0123456789');
  parser.execute(body);
  assert.equal(seen.length, 1);
  assert.equal(seen[0], body);
  assert.equal(parser.done, true);
});

test('a chunked body is decoded (extensions, uppercase hex, trailers) and its framing headers removed', () => {
  const raw = b(
    'HTTP/1.1 200 OK\r\n' +
      'Content-Type: text/plain\r\n' +
      'Transfer-Encoding: chunked\r\n' +
      'Content-Length: 999\r\n' +
      'X-After: yes\r\n' +
      '\r\n' +
      '5;name=value\r\nhello\r\n' +
      '1\r\n \r\n' +
      'A ; ext="quoted;semi"\r\n0123456789\r\n' +
      'c\r\nabcdefghijkl\r\n' +
      '0;last\r\n' +
      'X-Trailer: one\r\n' +
      'X-Other: two\r\n' +
      '\r\n',
  );
  const expected: Outcome = {
    heads: [{ status: 200, reason: 'OK', headers: ['Content-Type', 'text/plain', 'X-After', 'yes'], keepAlive: true, bodyLength: -1 }],
    body: 'hello 0123456789abcdefghijkl',
    order: ['head', 'body', 'end'],
    done: true,
  };
  for (const [how, pieces] of splits(raw)) assert.deepEqual(parse(pieces).result, expected, how);
  for (const [how, pieces] of splitsInThree(raw)) assert.deepEqual(parse(pieces).result, expected, how);
});

test('a chunked body with no trailers ends at the empty line after the last chunk', () => {
  const raw = b('HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  for (const [how, pieces] of splits(raw)) {
    const { result } = parse(pieces);
    assert.deepEqual(result.heads[0].headers, [], how);
    assert.equal(result.body, 'abc', how);
    assert.deepEqual(result.order, ['head', 'body', 'end'], how);
  }
});

test('a chunked body split after the last chunk has not ended yet', () => {
  const parser = new ResponseParser();
  const sink = new Recorder();
  parser.start(sink, false);
  parser.execute(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n'));
  assert.equal(sink.ends, 0);
  assert.equal(parser.done, false);
  parser.execute(b('\r\n'));
  assert.equal(sink.ends, 1);
  assert.equal(parser.done, true);
  assert.equal(sink.body, 'hi');
});

test('a second response is read by the same parser once started again', () => {
  const parser = new ResponseParser();
  const first = new Recorder();
  parser.start(first, false);
  parser.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none'));
  assert.equal(parser.done, true);
  assert.deepEqual(first.order, ['head', 'body', 'end']);

  const second = new Recorder();
  parser.start(second, false);
  assert.equal(parser.done, false);
  assert.equal(parser.started, false);
  parser.execute(b('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n'));
  assert.equal(parser.started, true);
  parser.execute(b('two\r\n0\r\n\r\n'));
  assert.equal(second.heads[0].status, 404);
  assert.equal(second.heads[0].reason, 'Not Found');
  assert.equal(second.body, 'two');
  assert.deepEqual(second.order, ['head', 'body', 'end']);
  // The first sink heard nothing more.
  assert.equal(first.heads.length, 1);
  assert.equal(first.body, 'one');
  assert.equal(first.ends, 1);

  const third = new Recorder();
  parser.start(third, true);
  parser.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'));
  assert.deepEqual(third.order, ['head', 'end']);
});

test('the response to a HEAD request has no body, even with a Content-Length or chunked', () => {
  for (const framing of ['Content-Length: 1234', 'Transfer-Encoding: chunked', '']) {
    const raw = b(`HTTP/1.1 200 OK\r\n${framing}${framing === '' ? '' : '\r\n'}\r\n`);
    for (const [how, pieces] of splits(raw)) {
      const { result } = parse(pieces, { headRequest: true });
      assert.deepEqual(result.order, ['head', 'end'], `${framing}: ${how}`);
      assert.equal(result.heads[0].keepAlive, true, `${framing}: ${how}`);
      assert.equal(result.done, true);
    }
  }
  // The length the app announced is the length a GET would have had: it is passed on.
  const { result } = parse([b('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n')], { headRequest: true });
  assert.deepEqual(result.heads[0].headers, ['Content-Length', '1234']);
});

test('204 and 304 end right after the head, whatever length they announce', () => {
  for (const status of ['204 No Content', '304 Not Modified']) {
    for (const framing of ['Content-Length: 50\r\n', 'Transfer-Encoding: chunked\r\n', '']) {
      const raw = b(`HTTP/1.1 ${status}\r\nETag: "x"\r\n${framing}\r\n`);
      for (const [how, pieces] of splits(raw)) {
        const { result } = parse(pieces);
        assert.deepEqual(result.order, ['head', 'end'], `${status} ${framing}: ${how}`);
        assert.equal(result.heads[0].keepAlive, true);
        assert.equal(result.done, true);
      }
    }
  }
  // And the next bytes on the connection are not taken for a body: they are an error.
  const parser = new ResponseParser();
  parser.start(new Recorder(), false);
  throwsParseError(() => parser.execute(b('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello')), /after its response/);
});

test('100 Continue and 103 Early Hints are skipped: the sink sees only the final head', () => {
  const raw = b(
    'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 2\r\n\r\nok',
  );
  const expected: Outcome = {
    heads: [{ status: 201, reason: 'Created', headers: ['Location', '/x', 'Content-Length', '2'], keepAlive: true, bodyLength: 2 }],
    body: 'ok',
    order: ['head', 'body', 'end'],
    done: true,
  };
  for (const [how, pieces] of splits(raw)) assert.deepEqual(parse(pieces).result, expected, how);
});

test('an interim response alone leaves the parser waiting for the final one', () => {
  const parser = new ResponseParser();
  const sink = new Recorder();
  parser.start(sink, false);
  parser.execute(b('HTTP/1.1 100 Continue\r\n\r\n'));
  assert.equal(sink.heads.length, 0);
  assert.equal(parser.done, false);
  assert.equal(parser.onClose(), false, 'a close now truncates the response');
  assert.equal(sink.ends, 0);
});

test('101 Switching Protocols is an error', () => {
  headThrows('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', /101/);
});

test('a status line that is not HTTP/1.x is an error', () => {
  for (const line of [
    'garbage',
    'HTTP/1.1',
    'HTTP/1.1 20 OK',
    'HTTP/1.1 2000 OK',
    'HTTP/1.1 abc OK',
    'HTTP/1.1  200 OK',
    'HTTP/1.2 200 OK',
    'HTTP/2 200 OK',
    'HTTP/2.0 200 OK',
    'http/1.1 200 OK',
    'ICY 200 OK',
    ' HTTP/1.1 200 OK',
    '',
  ]) {
    headThrows(`${line}\r\nContent-Length: 0\r\n\r\n`, /status line/);
  }
});

test('a status line with no reason, or an empty one, is accepted', () => {
  for (const line of ['HTTP/1.1 200', 'HTTP/1.1 200 ']) {
    const { result } = parse([b(`${line}\r\nContent-Length: 0\r\n\r\n`)]);
    assert.equal(result.heads[0].status, 200);
    assert.equal(result.heads[0].reason, '');
    assert.deepEqual(result.order, ['head', 'end']);
  }
  const { result } = parse([b('HTTP/1.1 418 I am a teapot: really\r\nContent-Length: 0\r\n\r\n')]);
  assert.equal(result.heads[0].reason, 'I am a teapot: really');
});

test('a status below 100 is an error, not an interim response', () => {
  headThrows('HTTP/1.1 000 Zero\r\n\r\n');
  headThrows('HTTP/1.1 099 Odd\r\n\r\n');
});

test('a header line without a colon, or with an empty name, is an error', () => {
  headThrows('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nno colon here\r\n\r\n', /malformed response header/);
  headThrows('HTTP/1.1 200 OK\r\n: empty name\r\n\r\n', /malformed response header/);
  headThrows('HTTP/1.1 200 OK\r\nX-A: 1\r\n\n\r\n\r\n', /malformed response header/);
});

test('an invalid Content-Length is an error', () => {
  for (const value of ['', 'abc', '-1', '+5', '1e3', '0x10', '5, 5', '5 5', '1.0', '1234567890123456']) {
    headThrows(`HTTP/1.1 200 OK\r\nContent-Length: ${value}\r\n\r\n`, /invalid Content-Length/);
  }
});

test('conflicting Content-Length headers are an error; repeated equal ones are not', () => {
  headThrows('HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n', /conflicting Content-Length/);
  const { result } = parse([b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello')]);
  assert.equal(result.body, 'hello');
  assert.deepEqual(result.order, ['head', 'body', 'end']);
});

test('a bad chunk size is an error', () => {
  for (const size of ['', 'g', '-1', '0x5', '5 5', '1234567890abc', ';ext']) {
    const parser = new ResponseParser();
    parser.start(new Recorder(), false);
    throwsParseError(
      () => parser.execute(b(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\nhello\r\n0\r\n\r\n`)),
      /invalid chunk size/,
    );
  }
  // A size line that never ends is cut off rather than buffered forever.
  const parser = new ResponseParser();
  parser.start(new Recorder(), false);
  parser.execute(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;'));
  throwsParseError(() => parser.execute(Buffer.alloc(5000, 'x')), /chunk size line too long/);
});

test('chunk data not followed by CRLF is an error, however it is split', () => {
  for (const after of ['XX', '\n\r', '\rX', '\n', 'hello']) {
    const raw = b(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello${after}0\r\n\r\n`);
    for (const [how, pieces] of splits(raw)) {
      const parser = new ResponseParser();
      const sink = new Recorder();
      parser.start(sink, false);
      throwsParseError(() => {
        for (const piece of pieces) parser.execute(piece);
      }, /not followed by CRLF/);
      assert.equal(sink.ends, 0, how);
    }
  }
});

test('a head over MAX_HEAD_BYTES is an error, whole or arriving in pieces', () => {
  const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\nContent-Length: 0\r\n\r\n`;
  headThrows(big, /larger than/);

  const parser = new ResponseParser();
  parser.start(new Recorder(), false);
  parser.execute(b('HTTP/1.1 200 OK\r\nX-Big: '));
  const piece = Buffer.alloc(4096, 'a');
  throwsParseError(() => {
    for (let sent = 0; sent <= MAX_HEAD_BYTES + piece.length; sent += piece.length) parser.execute(piece);
  }, /larger than/);

  // Just under the limit is fine.
  const fits = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES - 100)}\r\nContent-Length: 0\r\n\r\n`;
  const { result } = parse([b(fits)]);
  assert.deepEqual(result.order, ['head', 'end']);
});

test('data after a complete response is an error', () => {
  // In the same read as the end of the body: the response is complete first.
  let parser = new ResponseParser();
  let sink = new Recorder();
  parser.start(sink, false);
  throwsParseError(() => parser.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiX')), /after its response/);
  assert.deepEqual(sink.order, ['head', 'body', 'end']);
  assert.equal(sink.body, 'hi');

  // In a later read.
  parser = new ResponseParser();
  sink = new Recorder();
  parser.start(sink, false);
  parser.execute(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n'));
  throwsParseError(() => parser.execute(b('HTTP/1.1 200 OK\r\n\r\n')), /after its response/);
  assert.equal(sink.ends, 1);
});

test('after reset() whatever arrives is ignored and the response never ends', () => {
  const parser = new ResponseParser();
  const sink = new Recorder();
  parser.start(sink, false);
  parser.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello'));
  parser.reset();
  assert.equal(parser.dropped, true);
  assert.equal(parser.done, false);
  parser.execute(b('world'));
  parser.execute(b('and more after the response'));
  assert.equal(parser.onClose(), false);
  assert.equal(sink.body, 'hello');
  assert.deepEqual(sink.order, ['head', 'body']);

  // Also after a complete response, where the same bytes would have been an error.
  const done = new ResponseParser();
  done.start(new Recorder(), false);
  done.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  done.reset();
  done.execute(b('junk'));

  // And mid-head: the pending bytes are forgotten.
  const mid = new ResponseParser();
  mid.start(new Recorder(), false);
  mid.execute(b('HTTP/1.1 200 O'));
  mid.reset();
  mid.execute(b('K\r\n\r\n'));
  assert.equal(mid.dropped, true);
});

test('a sink that drops the exchange while taking the head hears nothing more', () => {
  const parser = new ResponseParser();
  const sink = new Recorder();
  sink.onHead = () => parser.reset();
  parser.start(sink, false);
  parser.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'));
  assert.deepEqual(sink.order, ['head']);
  assert.equal(parser.dropped, true);

  // Even when the response had no body to wait for.
  const empty = new ResponseParser();
  const emptySink = new Recorder();
  emptySink.onHead = () => empty.reset();
  empty.start(emptySink, false);
  empty.execute(b('HTTP/1.1 204 No Content\r\n\r\n'));
  assert.deepEqual(emptySink.order, ['head']);
  assert.equal(empty.dropped, true);
});

test('a sink that drops the exchange while taking a body chunk hears nothing more', () => {
  for (const raw of [
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n',
  ]) {
    const parser = new ResponseParser();
    const sink = new Recorder();
    sink.onBody = () => parser.reset();
    parser.start(sink, false);
    parser.execute(b(raw));
    assert.deepEqual(sink.order, ['head', 'body'], raw);
    assert.equal(sink.body, 'hello');
    assert.equal(parser.dropped, true);
  }
});

test('started says whether any of the response arrived', () => {
  const parser = new ResponseParser();
  parser.start(new Recorder(), false);
  assert.equal(parser.started, false);
  parser.execute(Buffer.alloc(0));
  assert.equal(parser.started, false);
  parser.execute(b('H'));
  assert.equal(parser.started, true);
  parser.execute(b('TTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n'));
  assert.equal(parser.started, true);
  assert.equal(parser.done, false);
});

test('with no length and no chunks the body runs until the app closes, and the connection is not kept', () => {
  const raw = b('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this, until the close');
  for (const [how, pieces] of splits(raw)) {
    const parser = new ResponseParser();
    const sink = new Recorder();
    parser.start(sink, false);
    for (const piece of pieces) parser.execute(piece);
    assert.equal(sink.ends, 0, how);
    assert.equal(parser.done, false);
    if (sink.heads.length > 0) assert.equal(parser.delimitedByClose, true, how);
    assert.equal(parser.onClose(), true, how);
    assert.deepEqual(outcome(sink, parser), {
      heads: [{ status: 200, reason: 'OK', headers: ['Content-Type', 'text/plain'], keepAlive: false, bodyLength: -1 }],
      body: 'all of this, until the close',
      order: ['head', 'body', 'end'],
      done: true,
    }, how);
    assert.equal(parser.delimitedByClose, false);
  }
  // An empty close-delimited body still ends once.
  const { result } = parse([b('HTTP/1.1 200 OK\r\n\r\n')], { close: true });
  assert.deepEqual(result.order, ['head', 'end']);
  assert.equal(result.heads[0].keepAlive, false);
});

test('a close before a framed response is complete is a truncation, not an end', () => {
  for (const raw of [
    'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
    'HTTP/1.1 200 OK\r\nContent-Len',
  ]) {
    const parser = new ResponseParser();
    const sink = new Recorder();
    parser.start(sink, false);
    parser.execute(b(raw));
    assert.equal(parser.delimitedByClose, false);
    assert.equal(parser.onClose(), false, raw);
    assert.equal(sink.ends, 0);
    assert.equal(parser.done, false);
  }
});

test('Connection: close means the connection is not kept', () => {
  for (const value of ['close', 'Close', 'CLOSE', 'keep-alive, close', 'close, X-Foo']) {
    const { result } = parse([b(`HTTP/1.1 200 OK\r\nConnection: ${value}\r\nContent-Length: 2\r\n\r\nok`)]);
    assert.equal(result.heads[0].keepAlive, false, value);
    assert.equal(result.body, 'ok');
    assert.deepEqual(result.heads[0].headers, ['Content-Length', '2']);
  }
});

test('HTTP/1.0 keeps the connection only with Connection: keep-alive', () => {
  const plain = parse([b('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok')]).result;
  assert.equal(plain.heads[0].keepAlive, false);
  assert.equal(plain.body, 'ok');
  assert.deepEqual(plain.order, ['head', 'body', 'end']);

  for (const value of ['keep-alive', 'Keep-Alive']) {
    const kept = parse([b(`HTTP/1.0 200 OK\r\nConnection: ${value}\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok`)]).result;
    assert.equal(kept.heads[0].keepAlive, true, value);
    assert.deepEqual(kept.heads[0].headers, ['Content-Length', '2']);
  }

  // Keep-alive asked for, but with no length the body still ends with the connection.
  const { parser, result } = parse([b('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nsome')]);
  assert.equal(result.heads[0].keepAlive, false);
  assert.equal(parser.delimitedByClose, true);
});

test('a Transfer-Encoding other than chunked last makes the body run until the close', () => {
  const { parser, result } = parse([b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n')]);
  assert.equal(parser.delimitedByClose, true);
  assert.equal(result.heads[0].keepAlive, false);
  assert.equal(result.body, '5\r\nhello\r\n');

  const last = parse([b('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n')]).result;
  assert.equal(last.body, 'abc');
  assert.deepEqual(last.order, ['head', 'body', 'end']);
});

test('a Transfer-Encoding other than chunked last overrides a Content-Length too', () => {
  const { parser, result } = parse([b('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcdef')]);
  assert.equal(parser.delimitedByClose, true);
  assert.equal(parser.onClose(), true);
  assert.equal(result.body, 'abcdef');
  assert.deepEqual(result.heads[0].headers, []);
});

test('hop-by-hop headers are removed, the others kept as written and in order', () => {
  const raw = b(
    'HTTP/1.1 200 OK\r\n' +
      'Set-Cookie: a=1; Path=/\r\n' +
      'Connection: keep-alive, X-Hop-One\r\n' +
      'x-MiXeD-CaSe: Value With  Spaces\r\n' +
      'Keep-Alive: timeout=5, max=100\r\n' +
      'X-Empty:\r\n' +
      'Proxy-Connection: keep-alive\r\n' +
      'Set-Cookie: b=2\r\n' +
      'x-hop-one: gone\r\n' +
      'Upgrade: h2c\r\n' +
      'X-Padded:    padded value   \r\n' +
      'connection: x-hop-two\r\n' +
      'X-Hop-Two: gone too\r\n' +
      'X-Hop-One: gone as well\r\n' +
      'Set-Cookie: c=3; HttpOnly\r\n' +
      'X-Blank:   \r\n' +
      'Content-Length: 4\r\n' +
      '\r\n' +
      'body',
  );
  const expected: Outcome = {
    heads: [
      {
        status: 200,
        reason: 'OK',
        headers: [
          'Set-Cookie', 'a=1; Path=/',
          'x-MiXeD-CaSe', 'Value With  Spaces',
          'X-Empty', '',
          'Set-Cookie', 'b=2',
          'X-Padded', 'padded value',
          'Set-Cookie', 'c=3; HttpOnly',
          'X-Blank', '',
          'Content-Length', '4',
        ],
        keepAlive: true,
        bodyLength: 4,
      },
    ],
    body: 'body',
    order: ['head', 'body', 'end'],
    done: true,
  };
  for (const [how, pieces] of splits(raw)) assert.deepEqual(parse(pieces).result, expected, how);
});

test('header values are read as latin1 bytes, unchanged', () => {
  const raw = Buffer.concat([b('HTTP/1.1 200 OK\r\nX-Bytes: '), Buffer.from([0xe9, 0xff, 0x80]), b('\r\nContent-Length: 0\r\n\r\n')]);
  const { result } = parse([raw]);
  assert.deepEqual(Buffer.from(result.heads[0].headers[1], 'latin1'), Buffer.from([0xe9, 0xff, 0x80]));
});

test('Connection tokens are matched whole, not as substrings', () => {
  const http11 = parse([b('HTTP/1.1 200 OK\r\nConnection: x-enclosed\r\nContent-Length: 0\r\n\r\n')]).result;
  assert.equal(http11.heads[0].keepAlive, true);
  const http10 = parse([b('HTTP/1.0 200 OK\r\nConnection: x-keep-alive-hint\r\nContent-Length: 0\r\n\r\n')]).result;
  assert.equal(http10.heads[0].keepAlive, false);
});

test('a Trailer header is not passed on, since the trailers it announces are dropped', () => {
  const { result } = parse([b('HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\nok')]);
  assert.deepEqual(result.heads[0].headers, ['X-Kept', '1', 'Content-Length', '2']);
  assert.equal(result.body, 'ok');
  assert.deepEqual(result.order, ['head', 'body', 'end']);
});
