import { ChunkedDecoder, DROPPED, NEED_MORE, type ChunkReceiver } from './chunked-decoder.js';

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
  /** Name, value, name, value… as the app wrote them, hop-by-hop and framing headers removed. */
  headers: string[];
  /** The app keeps the connection open after this response. */
  keepAlive: boolean;
  /**
   * The body's length when it is known (0: no body, as for HEAD, 204 and 304; a Content-Length is
   * then among the headers when the app sent one), -1 when it is chunked or ends with the connection.
   */
  bodyLength: number;
}

export interface ResponseSink {
  upstreamHead(head: ResponseHead): void;
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
const HEAD_END = Buffer.from('\r\n\r\n');
const statusLine = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: (.*))?$/;
/** RFC 9110 token characters: a header name is nothing else (no spaces, no folded lines). */
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export class ResponseParseError extends Error {
  readonly code = 'EPROTO';
}

export class ResponseParser implements ChunkReceiver {
  private state = State.Done;
  private readonly chunked = new ChunkedDecoder(parseError);
  private pending: Buffer | null = null;
  private remaining = 0;
  private noBody = false;
  private sink: ResponseSink | null = null;

  /** Ready for the response to a request; `head` is true for a HEAD request (no body follows). */
  start(sink: ResponseSink, headRequest: boolean): void {
    this.sink = sink;
    this.noBody = headRequest;
    this.state = State.Head;
    this.pending = null;
  }

  get done(): boolean {
    return this.state === State.Done;
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
            this.pending = buf.subarray(at);
            return;
          }
          if (end - at > MAX_HEAD_BYTES) throw new ResponseParseError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
          const head = buf.toString('latin1', at, end);
          at = end + 4;
          this.onHead(head);
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
          if (this.remaining === 0) this.finish();
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
            this.pending = buf.subarray(this.chunked.stoppedAt);
            return;
          }
          at = to;
          if (this.chunked.done) this.finish();
          break;
        }
        case State.Done:
          throw new ResponseParseError('the app sent data after its response');
        case State.Dropped:
          return;
      }
    }
  }

  private finish(): void {
    this.state = State.Done;
    const sink = this.sink!;
    this.sink = null;
    sink.upstreamEnd();
  }

  /** The app closed the connection: the end of a close-delimited body, else a truncated response. */
  onClose(): boolean {
    if (this.state !== State.UntilClose) return false;
    this.finish();
    return true;
  }

  private onHead(text: string): void {
    const lines = text.split('\r\n');
    const m = statusLine.exec(lines[0]);
    if (m === null) throw new ResponseParseError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0].slice(0, 80))}`);
    const status = Number(m[2]);
    const http11 = m[1] === '1';
    let length = -1;
    let chunked = false;
    let otherCoding = false;
    let connection: string[] | undefined;
    const headers: string[] = [];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!headerName.test(name)) throw new ResponseParseError(`malformed response header line: ${JSON.stringify(line.slice(0, 80))}`);
      const value = line.slice(colon + 1).trim();
      switch (name.length) {
        case 10:
          if (name.toLowerCase() === 'connection') {
            for (const token of value.split(',')) (connection ??= []).push(token.trim().toLowerCase());
            continue;
          }
          if (name.toLowerCase() === 'keep-alive') continue;
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') {
            if (!/^\d{1,15}$/.test(value)) throw new ResponseParseError(`invalid Content-Length ${JSON.stringify(value)}`);
            const v = Number(value);
            if (length !== -1 && length !== v) throw new ResponseParseError('conflicting Content-Length headers');
            if (length !== -1) continue;
            length = v;
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            const codings = value.toLowerCase().split(',');
            // Only chunked as the last coding frames the body (RFC 9112 §6.3), and the router
            // removes that framing. Another last coding means the body ends with the connection;
            // the header is not passed on either, since Node would then frame the client's
            // response by nothing at all.
            chunked = codings[codings.length - 1].trim() === 'chunked';
            otherCoding = !chunked;
            continue;
          }
          break;
        case 16:
          if (name.toLowerCase() === 'proxy-connection') continue;
          break;
        case 7: {
          // Trailers are dropped, so a Trailer header would announce what never comes (and Node
          // refuses to write one on a response it does not chunk).
          const lower = name.toLowerCase();
          if (lower === 'upgrade' || lower === 'trailer') continue;
          break;
        }
      }
      headers.push(name, value);
    }
    let keepAlive = connection === undefined ? http11 : http11 ? !connection.includes('close') : connection.includes('keep-alive');
    if (connection !== undefined) dropListed(headers, connection);

    if (status < 200) {
      // 100 Continue, 103 Early Hints: interim; the real response follows. 101 is not asked for here.
      if (status === 101) throw new ResponseParseError('101 Switching Protocols to a request that asked for no upgrade');
      return;
    }
    let next: State;
    // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3); the length is not passed on either.
    if ((chunked || otherCoding) && length !== -1) {
      removeHeader(headers, 'content-length');
      length = -1;
    }
    if (this.noBody || status === 204 || status === 304) next = State.Done;
    else if (chunked) {
      next = State.Chunked;
      this.chunked.start();
    }
    else if (otherCoding) {
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
    const sink = this.sink!;
    const bodyLength = next === State.Done ? 0 : next === State.Length ? length : -1;
    sink.upstreamHead({ status, reason: m[3] ?? '', headers, keepAlive, bodyLength });
    // The sink may have dropped the exchange (its client is gone) while taking the head.
    if (this.sink !== sink) return;
    if (next === State.Done) this.finish();
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

function removeHeader(headers: string[], lower: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i].toLowerCase() === lower) headers.splice(i, 2);
}

/** Headers a Connection header names are hop-by-hop too. */
function dropListed(headers: string[], tokens: string[]): void {
  for (const name of tokens) if (name !== '' && name !== 'close' && name !== 'keep-alive') removeHeader(headers, name);
}
