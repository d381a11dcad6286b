/**
 * The chunked transfer coding (RFC 9112 §7.1), decoded incrementally for both directions: a
 * client's request body and an app's response body. Chunk data is handed on as slices of what was
 * read; extensions and trailer fields are read and dropped (the router re-frames what it sends).
 */
export interface ChunkReceiver {
  /** A piece of chunk data; false if the body was dropped meanwhile (stop decoding). */
  chunkData(chunk: Buffer): boolean;
}

const enum State {
  Size,
  Data,
  DataEnd,
  Trailers,
  Done,
}

const MAX_CHUNK_LINE = 4096;
const MAX_TRAILER_BYTES = 64 * 1024;
const CRLF = 0x0a0d;
const CRLF_BYTES = Buffer.from('\r\n');
const chunkSize = /^[0-9a-fA-F]{1,12}$/;

/** Decoding stopped short of the end of the input: the rest is an incomplete line, kept by the caller. */
export const NEED_MORE = -1;
/** The receiver dropped the body. */
export const DROPPED = -2;

export class ChunkedDecoder {
  private state = State.Size;
  private remaining = 0;
  private trailerBytes = 0;

  constructor(private readonly error: (message: string) => Error) {}

  start(): void {
    this.state = State.Size;
    this.remaining = 0;
    this.trailerBytes = 0;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  /**
   * Decodes `buf` from `at`. Returns where the body ended (done), `buf.length` when all of it was
   * taken, or the offset of an incomplete line to keep for the next call (`stoppedAt`), or DROPPED.
   * Throws `error(...)` on broken framing.
   */
  decode(buf: Buffer, at: number, receiver: ChunkReceiver): number {
    const n = buf.length;
    while (at < n) {
      switch (this.state) {
        case State.Size: {
          const eol = buf.indexOf(CRLF_BYTES, at);
          if (eol === -1) {
            if (n - at > MAX_CHUNK_LINE) throw this.error('chunk size line too long');
            this.stoppedAt = at;
            return NEED_MORE;
          }
          if (eol - at > MAX_CHUNK_LINE) throw this.error('chunk size line too long');
          this.remaining = parseChunkSize(buf.toString('latin1', at, eol), this.error);
          at = eol + 2;
          this.state = this.remaining === 0 ? State.Trailers : State.Data;
          break;
        }
        case State.Data: {
          const take = Math.min(this.remaining, n - at);
          this.remaining -= take;
          const chunk = buf.subarray(at, at + take);
          at += take;
          if (this.remaining === 0) this.state = State.DataEnd;
          if (!receiver.chunkData(chunk)) return DROPPED;
          break;
        }
        case State.DataEnd: {
          if (n - at < 2) {
            this.stoppedAt = at;
            return NEED_MORE;
          }
          if (buf.readUInt16LE(at) !== CRLF) throw this.error('chunk data not followed by CRLF');
          at += 2;
          this.state = State.Size;
          break;
        }
        case State.Trailers: {
          const eol = buf.indexOf(CRLF_BYTES, at);
          if (eol === -1) {
            if (this.trailerBytes + n - at > MAX_TRAILER_BYTES) throw this.error('trailers too long');
            this.stoppedAt = at;
            return NEED_MORE;
          }
          this.trailerBytes += eol - at + 2;
          if (this.trailerBytes > MAX_TRAILER_BYTES) throw this.error('trailers too long');
          const empty = eol === at;
          at = eol + 2;
          if (empty) {
            this.state = State.Done;
            return at;
          }
          break;
        }
        case State.Done:
          return at;
      }
    }
    return at;
  }

  /** Where an incomplete line starts, after decode() returned NEED_MORE. */
  stoppedAt = 0;
}

function parseChunkSize(line: string, error: (message: string) => Error): number {
  const semi = line.indexOf(';');
  // Whitespace before an extension is tolerated (RFC 9112 BWS); none inside the size itself.
  const hex = semi === -1 ? line : line.slice(0, semi).trimEnd();
  if (!chunkSize.test(hex)) throw error(`invalid chunk size ${JSON.stringify(hex.slice(0, 20))}`);
  return parseInt(hex, 16);
}
