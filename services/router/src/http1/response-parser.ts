import { ChunkedDecoder, DROPPED, NEED_MORE, type ChunkReceiver } from './chunked-decoder.js';
import { decimal, FIELD_CHARS, fieldValue, HEAD_END, lowerName, TOKEN, withoutNamed } from './header-lines.js';

export { headerPairs } from './header-lines.js';

/**
 * An app's HTTP/1.1 response, read incrementally off a keep-alive socket: the head, then the body
 * by its framing (Content-Length, chunked, or up to the close). The parser keeps no buffers across
 * responses and allocates only for the head; body bytes are handed on as slices of what was read.
 *
 * The app is not trusted more than a client would be: a malformed head, a head over the limit or
 * broken chunk framing is an error, never a guess.
 */
export interface ResponseHead {
  status: number;
  reason: string;
  /** `Name: value\r\n` lines as the app wrote them, hop-by-hop and framing headers removed. */
  lines: string;
  /** The values of its Set-Cookie headers, when it has any. */
  setCookies: string[] | undefined;
  /** Whether it has a Date header. */
  hasDate: boolean;
  /** The app keeps the connection open after this response. */
  keepAlive: boolean;
  /**
   * The body's length when it is known (0: no body, as for HEAD, 204 and 304; a Content-Length is
   * then among the headers when the app sent one), -1 when it is chunked or ends with the connection.
   */
  bodyLength: number;
  /** Transfer codings the app applied besides chunked (`gzip`), which the body still carries. */
  transferCodings: string | undefined;
}

export interface ResponseSink {
  upstreamHead(head: ResponseHead): void;
  /** A piece of the body, valid only during the call: it may be a slice of a reused read buffer. */
  upstreamBody(chunk: Buffer): void;
  upstreamEnd(): void;
}

const enum State {
  Head,
  Length,
  Chunked,
  UntilClose,
  Done,
  /** Dropped mid-way: whatever else arrives is ignored (the connection is being closed). */
  Dropped,
}

/** Larger than any sane response head; Node's own limit for a client's head is 16 KiB. */
export const MAX_HEAD_BYTES = 64 * 1024;
/**
 * The whole head in one test: a status line, then lines that are a token (no spaces, no folded
 * lines), a colon and a value without control characters.
 */
const wellFormedHead = new RegExp(`^HTTP/1\\.[01] [1-9]\\d\\d(?: ${FIELD_CHARS})?(?:\\r\\n${TOKEN}:${FIELD_CHARS})*$`);
const statusLine = new RegExp(`^HTTP/1\\.[01] [1-9]\\d\\d(?: ${FIELD_CHARS})?$`);
const headerLine = new RegExp(`^${TOKEN}:${FIELD_CHARS}$`);

export class ResponseParseError extends Error {
  readonly code = 'EPROTO';
}

export class ResponseParser implements ChunkReceiver {
  private state = State.Done;
  private readonly chunked = new ChunkedDecoder(parseError);
  private pending: Buffer | null = null;
  private remaining = 0;
  private noBody = false;
  /** Bytes followed the response in the read that completed it. */
  private trailing = false;
  private sink: ResponseSink | null = null;

  /** Ready for the response to a request; `head` is true for a HEAD request (no body follows). */
  start(sink: ResponseSink, headRequest: boolean): void {
    this.sink = sink;
    this.noBody = headRequest;
    this.state = State.Head;
    this.pending = null;
    this.trailing = false;
  }

  /**
   * The response is complete, and nothing came after it in the same read. Bytes that do answer no
   * request (there is one at a time), and must not be read as the answer to the next one: the sink
   * may hand the connection to that next request before the rest of the read is looked at.
   */
  get done(): boolean {
    return this.state === State.Done && !this.trailing;
  }

  get dropped(): boolean {
    return this.state === State.Dropped;
  }

  /** Whether the response has to end with the connection (no length, no chunks). */
  get delimitedByClose(): boolean {
    return this.state === State.UntilClose;
  }

  /** Whether anything of the response arrived yet. */
  get started(): boolean {
    return this.state !== State.Head || this.pending !== null;
  }

  /** Bytes read from the app. Throws ResponseParseError; data after a complete response is an error too. */
  execute(data: Buffer): void {
    let buf = data;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, data]);
      this.pending = null;
    }
    let at = 0;
    const n = buf.length;
    while (at < n) {
      switch (this.state) {
        case State.Head: {
          const end = buf.indexOf(HEAD_END, at);
          if (end === -1) {
            if (n - at > MAX_HEAD_BYTES) throw new ResponseParseError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
            // Copied: what execute() is given may be reused once it returns.
            this.pending = Buffer.from(buf.subarray(at));
            return;
          }
          if (end - at > MAX_HEAD_BYTES) throw new ResponseParseError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
          const head = buf.toString('latin1', at, end);
          at = end + 4;
          this.onHead(head, at < n);
          break;
        }
        case State.Length: {
          const take = Math.min(this.remaining, n - at);
          this.remaining -= take;
          const chunk = at === 0 && take === n ? buf : buf.subarray(at, at + take);
          at += take;
          this.sink!.upstreamBody(chunk);
          // The sink may have dropped the exchange while taking the chunk.
          if (this.state !== State.Length) return;
          if (this.remaining === 0) this.finish(at < n);
          break;
        }
        case State.UntilClose: {
          this.sink!.upstreamBody(at === 0 ? buf : buf.subarray(at));
          return;
        }
        case State.Chunked: {
          const to = this.chunked.decode(buf, at, this);
          if (to === DROPPED) return;
          if (to === NEED_MORE) {
            this.pending = Buffer.from(buf.subarray(this.chunked.stoppedAt));
            return;
          }
          at = to;
          if (this.chunked.done) this.finish(at < n);
          break;
        }
        case State.Done:
          throw new ResponseParseError('the app sent data after its response');
        case State.Dropped:
          return;
      }
    }
  }

  private finish(more: boolean): void {
    this.state = State.Done;
    this.trailing = more;
    const sink = this.sink!;
    this.sink = null;
    sink.upstreamEnd();
  }

  /** The app closed the connection: the end of a close-delimited body, else a truncated response. */
  onClose(): boolean {
    if (this.state !== State.UntilClose) return false;
    this.finish(false);
    return true;
  }

  /** `more`: bytes follow the head in this read. */
  private onHead(text: string, more: boolean): void {
    if (!wellFormedHead.test(text)) throw malformed(text);
    const lines = text.split('\r\n');
    const statusText = lines[0];
    const status = Number(statusText.slice(9, 12));
    const http11 = statusText.charCodeAt(7) === 49; /* 1 */
    let length = -1;
    let chunked = false;
    let otherCoding = false;
    let transferEncoding: string | undefined;
    let connection: string | undefined;
    let setCookies: string[] | undefined;
    let hasDate = false;
    let forward = '';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      // Most headers have a length none of these names has, and cost no lowercasing.
      switch (colon) {
        case 4:
          if (lowerName(line, colon) === 'date') hasDate = true;
          break;
        case 7: {
          // Trailers are dropped, so a Trailer header would announce what never comes.
          const name = lowerName(line, colon);
          if (name === 'upgrade' || name === 'trailer') continue;
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
          if (name === 'set-cookie') (setCookies ??= []).push(fieldValue(line, colon));
          break;
        }
        case 14:
          if (lowerName(line, colon) === 'content-length') {
            const value = fieldValue(line, colon);
            if (!decimal.test(value)) throw new ResponseParseError(`invalid Content-Length ${JSON.stringify(value)}`);
            const v = Number(value);
            if (length !== -1 && length !== v) throw new ResponseParseError('conflicting Content-Length headers');
            if (length !== -1) continue;
            length = v;
          }
          break;
        case 16:
          if (lowerName(line, colon) === 'proxy-connection') continue;
          break;
        case 17:
          if (lowerName(line, colon) === 'transfer-encoding') {
            const v = fieldValue(line, colon);
            transferEncoding = transferEncoding === undefined ? v : `${transferEncoding},${v}`;
            continue;
          }
          break;
      }
      forward += `${line}\r\n`;
    }
    let transferCodings: string | undefined;
    if (transferEncoding !== undefined) {
      const codings = transferEncoding
        .toLowerCase()
        .split(',')
        .map((c) => c.trim())
        .filter((c) => c !== '');
      // Only chunked as the last coding frames the body (RFC 9112 §6.3), and the router removes
      // that framing. Another last coding means the body ends with the connection. The codings
      // under it are kept, to be announced again under the client's own framing.
      chunked = codings[codings.length - 1] === 'chunked';
      otherCoding = !chunked;
      const under = chunked ? codings.slice(0, -1) : codings;
      if (under.length > 0) transferCodings = under.join(', ');
    }
    let keepAlive = http11;
    if (connection !== undefined) {
      const tokens = connection.toLowerCase().split(',');
      let listed: Set<string> | undefined;
      for (let i = 0; i < tokens.length; i++) {
        const token = tokens[i].trim();
        if (token === 'close') keepAlive = false;
        else if (token === 'keep-alive') keepAlive ||= !http11;
        // A Content-Length stays whatever the Connection header says: the client's answer is framed by it.
        else if (token !== '' && token !== 'content-length') (listed ??= new Set()).add(token);
      }
      if (listed !== undefined) forward = withoutNamed(forward, listed);
    }

    if (status < 200) {
      // 100 Continue, 103 Early Hints: interim; the real response follows. 101 is not asked for here.
      if (status === 101) throw new ResponseParseError('101 Switching Protocols to a request that asked for no upgrade');
      return;
    }
    let next: State;
    // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3); the length is not passed on either.
    if ((chunked || otherCoding) && length !== -1) {
      forward = withoutNamed(forward, new Set(['content-length']));
      length = -1;
    }
    if (this.noBody || status === 204 || status === 304) next = State.Done;
    else if (chunked) {
      next = State.Chunked;
      this.chunked.start();
    } else if (otherCoding) {
      next = State.UntilClose;
      keepAlive = false;
    } else if (length === 0) next = State.Done;
    else if (length > 0) {
      next = State.Length;
      this.remaining = length;
    } else {
      next = State.UntilClose;
      keepAlive = false;
    }
    const sp = statusText.indexOf(' ', 9);
    const bodyLength = next === State.Done ? 0 : next === State.Length ? length : -1;
    const sink = this.sink!;
    sink.upstreamHead({ status, reason: sp === -1 ? '' : statusText.slice(sp + 1), lines: forward, setCookies, hasDate, keepAlive, bodyLength, transferCodings });
    // The sink may have dropped the exchange (its client is gone) while taking the head.
    if (this.sink !== sink) return;
    if (next === State.Done) this.finish(more);
    else this.state = next;
  }

  chunkData(chunk: Buffer): boolean {
    this.sink!.upstreamBody(chunk);
    // The sink may have dropped the exchange while taking the chunk.
    return this.state === State.Chunked;
  }

  /** Forgets the response in progress (its client is gone); the connection is closed with it. */
  reset(): void {
    this.sink = null;
    this.state = State.Dropped;
    this.pending = null;
  }
}


function parseError(message: string): Error {
  return new ResponseParseError(message);
}

/** Says what is wrong with a head that failed the well-formedness test. */
function malformed(text: string): ResponseParseError {
  const eol = text.indexOf('\r\n');
  const first = eol === -1 ? text : text.slice(0, eol);
  if (!statusLine.test(first)) return new ResponseParseError(`not an HTTP/1.x status line: ${JSON.stringify(first.slice(0, 80))}`);
  for (const line of text.split('\r\n').slice(1)) {
    if (!headerLine.test(line)) return new ResponseParseError(`malformed response header line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  return new ResponseParseError('malformed response head');
}
