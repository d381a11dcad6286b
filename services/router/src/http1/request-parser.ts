import { ChunkedDecoder, DROPPED, NEED_MORE, type ChunkReceiver } from './chunked-decoder.js';
import { decimal, FIELD_CHARS, fieldValue, HEAD_END, lowerName, TOKEN, withoutNamed } from './header-lines.js';

/**
 * A client's HTTP/1.x requests, read incrementally off its connection: the head, then the body
 * by its framing, one request at a time. Whatever the world sends is checked before anything of it
 * goes on: one well-formedness test over the whole head (request line, header names as tokens, no
 * control characters, no bare CR or LF, no folded lines), then the framing rules that keep a
 * request from being read two ways (RFC 9112 §6: Content-Length with Transfer-Encoding, unequal
 * lengths, codings other than chunked). A request that fails them is refused whole.
 *
 * While the parser scans the headers it also builds the header lines that go on to the app (the
 * client's lines as they were sent, less hop-by-hop, framing and forwarding ones) and picks out the
 * few values the router needs, so a request's head is walked once.
 */
export interface RequestHead {
  method: string;
  /** The request target as sent. */
  url: string;
  http11: boolean;
  host: string | undefined;
  /** Body length from Content-Length; -1 when there is none (or the body is chunked). */
  contentLength: number;
  chunked: boolean;
  /** The client keeps the connection open after this request (HTTP/1.1 default, or 1.0 keep-alive). */
  keepAlive: boolean;
  /** An HTTP/1.1 GET asking to switch to websocket (Connection: upgrade, Upgrade: websocket). */
  upgrade: boolean;
  expectContinue: boolean;
  cookie: string | undefined;
  forwardedFor: string | undefined;
  forwardedProto: string | undefined;
  forwardedHost: string | undefined;
  requestId: string | undefined;
  vcapRequestId: string | undefined;
  /** `Name: value\r\n` lines for the app, in the client's order and spelling. */
  forwardLines: string;
  /** Every header line as sent (name: value), for a websocket upgrade that needs them all. */
  lines: string[];
  /** Bytes of the head, request line to the empty line. */
  headBytes: number;
}

export interface RequestSink {
  requestHead(head: RequestHead): void;
  requestBody(chunk: Buffer): void;
  requestEnd(): void;
}

/** Why a request is refused: the status to answer with, then the connection is closed. */
export class RequestParseError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const enum State {
  /** Reading a head (nothing of it yet, or part of it). */
  Head,
  Length,
  Chunked,
  /** A request was read whole; what comes next is held until next(). */
  Waiting,
  /** The connection switched protocols: nothing more is parsed. */
  Upgraded,
  /** Refused or closed: whatever else arrives is ignored. */
  Stopped,
}

/** nginx allows 32 KiB of headers by default, Node 16 KiB; cookies make some heads large. */
export const MAX_REQUEST_HEAD_BYTES = 64 * 1024;
/** Pipelined bytes held while a request is answered; past this the connection stops being read. */
export const MAX_HELD_BYTES = 64 * 1024;

const CR = 13;
const LF = 10;
/**
 * The whole head in one test: a request line with an HTTP/1.x version, then lines that are a token,
 * a colon and a value of visible characters, spaces, tabs and obs-text. Anything else (a control
 * character, a bare CR or LF, a folded line, a space before a colon) fails it.
 */
const wellFormedHead = new RegExp(`^${TOKEN} [\\x21-\\x7e\\x80-\\xff]+ HTTP/1\\.[01](?:\\r\\n${TOKEN}:${FIELD_CHARS})*$`);
const otherVersion = new RegExp(`^${TOKEN} [\\x21-\\x7e\\x80-\\xff]+ HTTP/\\d\\.\\d(?:\\r\\n|$)`);
const absoluteForm = /^https?:\/\//i;
/** A host name or address and an optional port (RFC 3986 authority without userinfo); empty is left to the router. */
const hostValue = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::\d*)?$/;

function tooLarge(): RequestParseError {
  return new RequestParseError(431, `request head larger than ${MAX_REQUEST_HEAD_BYTES} bytes`);
}

function badRequest(message: string): RequestParseError {
  return new RequestParseError(400, message);
}

export class RequestParser implements ChunkReceiver {
  private state = State.Head;
  /** Bytes read but not parsed yet: part of a head, part of a chunk line, or pipelined requests. */
  private pending: Buffer | null = null;
  private remaining = 0;
  private readonly chunked = new ChunkedDecoder(badRequest);

  constructor(private readonly sink: RequestSink) {}

  /** Nothing of a next request has arrived: the connection is idle between requests. */
  get idle(): boolean {
    return this.state === State.Head && this.pending === null;
  }

  /** Part of a head has arrived, not all of it. */
  get inHead(): boolean {
    return this.state === State.Head && this.pending !== null;
  }

  /** Body bytes still to come: -1 for a chunked body, 0 when no body is being read. */
  get bodyRemaining(): number {
    return this.state === State.Length ? this.remaining : this.state === State.Chunked ? -1 : 0;
  }

  /** Bytes the parser holds. */
  get heldBytes(): number {
    return this.pending === null ? 0 : this.pending.length;
  }

  /** Throws RequestParseError; the connection must then answer its status and close. */
  execute(data: Buffer): void {
    if (this.state === State.Waiting) {
      this.pending = this.pending === null ? data : Buffer.concat([this.pending, data]);
      return;
    }
    if (this.state === State.Stopped) return;
    let buf = data;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, data]);
      this.pending = null;
    }
    this.parse(buf);
  }

  /** The current request was answered: go on to the next one, if some of it was held. */
  next(): void {
    if (this.state !== State.Waiting) return;
    this.state = State.Head;
    const held = this.pending;
    this.pending = null;
    if (held !== null) this.parse(held);
  }

  /** After an upgrade: the bytes the client sent past the head, which belong to the new protocol. */
  takeRest(): Buffer | null {
    const rest = this.pending;
    this.pending = null;
    return rest;
  }

  /** Stops parsing for good: the connection is being closed. */
  stop(): void {
    this.state = State.Stopped;
    this.pending = null;
  }

  chunkData(chunk: Buffer): boolean {
    this.sink.requestBody(chunk);
    return this.state === State.Chunked;
  }

  private parse(buf: Buffer): void {
    let at = 0;
    const n = buf.length;
    while (at < n) {
      switch (this.state) {
        case State.Head: {
          // A client may send an empty line before a request (RFC 9112 §2.2); it is skipped.
          while (at + 1 < n && buf[at] === CR && buf[at + 1] === LF) at += 2;
          if (at >= n) return;
          const end = buf.indexOf(HEAD_END, at);
          if (end === -1) {
            if (n - at > MAX_REQUEST_HEAD_BYTES) throw tooLarge();
            this.pending = at === 0 ? buf : buf.subarray(at);
            return;
          }
          if (end - at > MAX_REQUEST_HEAD_BYTES) throw tooLarge();
          const head = parseHead(buf.toString('latin1', at, end), end + 4 - at);
          at = end + 4;
          if (head.upgrade) {
            this.state = State.Upgraded;
            this.pending = at < n ? buf.subarray(at) : null;
            this.sink.requestHead(head);
            return;
          }
          if (head.chunked) {
            this.state = State.Chunked;
            this.chunked.start();
          } else if (head.contentLength > 0) {
            this.state = State.Length;
            this.remaining = head.contentLength;
          } else {
            this.state = State.Waiting;
          }
          this.sink.requestHead(head);
          if (this.state === State.Waiting) {
            this.sink.requestEnd();
            if ((this.state as State) !== State.Head) return this.hold(buf, at);
          }
          break;
        }
        case State.Length: {
          const take = Math.min(this.remaining, n - at);
          this.remaining -= take;
          const chunk = at === 0 && take === n ? buf : buf.subarray(at, at + take);
          at += take;
          if (this.remaining === 0) this.state = State.Waiting;
          this.sink.requestBody(chunk);
          if ((this.state as State) === State.Stopped) return;
          if (this.state === State.Waiting) {
            this.sink.requestEnd();
            if ((this.state as State) !== State.Head) return this.hold(buf, at);
          }
          break;
        }
        case State.Chunked: {
          const to = this.chunked.decode(buf, at, this);
          if (to === DROPPED) return;
          if (to === NEED_MORE) {
            this.pending = buf.subarray(this.chunked.stoppedAt);
            return;
          }
          at = to;
          if (this.chunked.done) {
            this.state = State.Waiting;
            this.sink.requestEnd();
            if ((this.state as State) !== State.Head) return this.hold(buf, at);
          }
          break;
        }
        case State.Waiting:
          return this.hold(buf, at);
        case State.Upgraded:
        case State.Stopped:
          return;
      }
    }
  }

  /**
   * Keeps what follows a whole request until next(). A sink that answered at once has moved on
   * already (next() from requestEnd): parse() then goes on in its own loop, not a call deeper, or a
   * run of thousands of pipelined requests the router answers itself would exhaust the stack.
   */
  private hold(buf: Buffer, at: number): void {
    if (at >= buf.length || this.state !== State.Waiting) return;
    const rest = buf.subarray(at);
    this.pending = this.pending === null ? rest : Buffer.concat([this.pending, rest]);
  }
}

/** Codings other than chunked are not decoded here, and chunked must come last and once. */
function transferCodings(values: string): void {
  const codings = values.split(',');
  for (let i = 0; i < codings.length; i++) {
    const coding = codings[i].trim().toLowerCase();
    if (coding !== 'chunked') throw new RequestParseError(501, `transfer coding ${JSON.stringify(coding.slice(0, 40))} is not supported`);
  }
  if (codings.length > 1) throw badRequest('chunked applied more than once');
}

function parseHead(text: string, headBytes: number): RequestHead {
  if (!wellFormedHead.test(text)) throw malformed(text);
  const lines = text.split('\r\n');
  const requestLine = lines[0];
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.lastIndexOf(' ');
  const http11 = requestLine.charCodeAt(requestLine.length - 1) === 49; /* 1 */
  // A tunnel to anywhere is not what an app router is for.
  if (sp1 === 7 && requestLine.startsWith('CONNECT')) throw new RequestParseError(405, 'CONNECT is not supported');
  const url = requestLine.slice(sp1 + 1, sp2);
  // Origin form, absolute form, or `*` for OPTIONS (RFC 9112 §3.2); authority form is CONNECT's.
  if (url.charCodeAt(0) !== 47 /* / */ && !absoluteForm.test(url) && !(url === '*' && sp1 === 7 && requestLine.startsWith('OPTIONS'))) {
    throw badRequest(`request target ${JSON.stringify(url.slice(0, 80))} is not a path or an http(s) URL`);
  }
  const head: RequestHead = {
    method: requestLine.slice(0, sp1),
    url,
    http11,
    host: undefined,
    contentLength: -1,
    chunked: false,
    keepAlive: http11,
    upgrade: false,
    expectContinue: false,
    cookie: undefined,
    forwardedFor: undefined,
    forwardedProto: undefined,
    forwardedHost: undefined,
    requestId: undefined,
    vcapRequestId: undefined,
    forwardLines: '',
    lines,
    headBytes,
  };
  let forward = '';
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  let upgrade: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    // Most headers have a length none of these names has, and cost no lowercasing.
    switch (colon) {
      case 2:
        if (lowerName(line, colon) === 'te') continue;
        break;
      case 4:
        if (lowerName(line, colon) === 'host') {
          if (head.host !== undefined) throw badRequest('more than one Host header');
          head.host = fieldValue(line, colon);
        }
        break;
      case 6: {
        const name = lowerName(line, colon);
        if (name === 'cookie') {
          const v = fieldValue(line, colon);
          head.cookie = head.cookie === undefined ? v : `${head.cookie}; ${v}`;
        } else if (name === 'expect') {
          // The router answers `100 Continue` itself; the app must not answer it again. An HTTP/1.0
          // client knows no interim answers: its expectation is ignored (RFC 9110 §10.1.1).
          if (http11 && fieldValue(line, colon).toLowerCase() === '100-continue') head.expectContinue = true;
          continue;
        }
        break;
      }
      case 7: {
        const name = lowerName(line, colon);
        if (name === 'upgrade') {
          upgrade = fieldValue(line, colon);
          continue;
        }
        if (name === 'trailer') continue;
        break;
      }
      case 10: {
        const name = lowerName(line, colon);
        if (name === 'connection') {
          const v = fieldValue(line, colon);
          connection = connection === undefined ? v : `${connection},${v}`;
          continue;
        }
        if (name === 'keep-alive') continue;
        break;
      }
      case 12:
        if (lowerName(line, colon) === 'x-request-id') {
          head.requestId ??= fieldValue(line, colon);
          continue;
        }
        break;
      case 14:
        if (lowerName(line, colon) === 'content-length') {
          const v = fieldValue(line, colon);
          if (!decimal.test(v)) throw badRequest(`invalid Content-Length ${JSON.stringify(v.slice(0, 40))}`);
          const length = Number(v);
          if (head.contentLength !== -1) {
            if (head.contentLength !== length) throw badRequest('conflicting Content-Length headers');
            continue;
          }
          head.contentLength = length;
        }
        break;
      case 15:
        if (lowerName(line, colon) === 'x-forwarded-for') {
          const v = fieldValue(line, colon);
          head.forwardedFor = head.forwardedFor === undefined ? v : `${head.forwardedFor}, ${v}`;
          continue;
        }
        break;
      case 16: {
        const name = lowerName(line, colon);
        if (name === 'x-forwarded-host') {
          head.forwardedHost ??= fieldValue(line, colon);
          continue;
        }
        if (name === 'proxy-connection') continue;
        break;
      }
      case 17: {
        const name = lowerName(line, colon);
        if (name === 'transfer-encoding') {
          const v = fieldValue(line, colon);
          transferEncoding = transferEncoding === undefined ? v : `${transferEncoding},${v}`;
          continue;
        }
        if (name === 'x-forwarded-proto') {
          head.forwardedProto ??= fieldValue(line, colon);
          continue;
        }
        if (name === 'x-vcap-request-id') {
          head.vcapRequestId ??= fieldValue(line, colon);
          continue;
        }
        break;
      }
    }
    forward += `${line}\r\n`;
  }

  if (transferEncoding !== undefined) {
    // A length and chunks at once is how requests are smuggled past one reader to another.
    if (head.contentLength !== -1) throw badRequest('both Content-Length and Transfer-Encoding');
    if (!http11) throw badRequest('Transfer-Encoding in an HTTP/1.0 request');
    transferCodings(transferEncoding);
    head.chunked = true;
  }
  if (connection !== undefined) {
    const tokens = connection.toLowerCase().split(',');
    let listed: Set<string> | undefined;
    let upgradeAsked = false;
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i].trim();
      if (token === 'close') head.keepAlive = false;
      else if (token === 'keep-alive') head.keepAlive ||= !http11;
      else if (token === 'upgrade') upgradeAsked = true;
      // `Connection: host` must not strip the Host header, nor `Connection: content-length` the
      // length of a body that goes on: the app would read that body as requests of its own.
      else if (token !== '' && token !== 'host' && token !== 'content-length') (listed ??= new Set()).add(token);
    }
    if (listed !== undefined) forward = withoutNamed(forward, listed);
    // Only a websocket can be tunnelled (http-proxy's ws pass destroys anything else unanswered):
    // another protocol asked for (h2c) is declined by answering in HTTP/1.1 (RFC 9110 §7.8).
    head.upgrade = upgradeAsked && http11 && head.method === 'GET' && upgrade?.toLowerCase() === 'websocket';
  }
  if (!http11 && connection === undefined) head.keepAlive = false;
  if (head.host === undefined) {
    // RFC 9112 §3.2; an HTTP/1.0 request without one is answered by the router (empty_host).
    if (http11) throw badRequest('no Host header');
  } else if (!hostValue.test(head.host)) {
    throw badRequest(`invalid Host header ${JSON.stringify(head.host.slice(0, 80))}`);
  }
  head.forwardLines = forward;
  return head;
}

/** Says what is wrong with a head that failed the well-formedness test. */
function malformed(text: string): RequestParseError {
  const eol = text.indexOf('\r\n');
  const requestLine = eol === -1 ? text : text.slice(0, eol);
  if (otherVersion.test(text) && !/ HTTP\/1\.[01]$/.test(requestLine)) {
    return new RequestParseError(505, `HTTP version not supported: ${JSON.stringify(requestLine.slice(-8))}`);
  }
  const lines = text.split('\r\n');
  if (!new RegExp(`^${TOKEN} [\\x21-\\x7e\\x80-\\xff]+ HTTP/1\\.[01]$`).test(lines[0])) {
    return badRequest(`malformed request line ${JSON.stringify(lines[0].slice(0, 80))}`);
  }
  const field = new RegExp(`^${TOKEN}:`);
  const valueChars = new RegExp(`^${FIELD_CHARS}$`);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) return badRequest('folded header line (obs-fold)');
    if (!field.test(line)) return badRequest(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    if (!valueChars.test(line.slice(line.indexOf(':') + 1))) return badRequest(`control character in header ${JSON.stringify(line.slice(0, line.indexOf(':')))}`);
  }
  return badRequest('malformed request head');
}
