// A raw client: one connection to the router that sends exact bytes and reads one response at a
// time, with its own small parser (Content-Length, chunked, close-delimited, and the bodiless
// cases), so tests see the router's answers as they are on the wire.
import net from 'node:net';

/** How long any one read may wait for the router before the test calls it a hang. */
export const READ_TIMEOUT_MS = 1500;

export interface RawResponse {
  version: string;
  status: number;
  headers: [string, string][];
  body: Buffer;
  framing: 'length' | 'chunked' | 'close' | 'none';
}

/** Every value of header `name` (lowercase) among [name, value] pairs, in order. */
export const values = (headers: [string, string][], name: string) => headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);

/** The first value of header `name` (lowercase) in a response. */
export const header = (r: RawResponse, name: string) => values(r.headers, name)[0];

/** Clients not yet destroyed, for destroyRawClients() in a file's after(). */
const open = new Set<RawClient>();

export function destroyRawClients(): void {
  for (const c of open) c.destroy();
}

export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private wake: ((gotData: boolean) => void) | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.wake?.(true);
    });
    const end = () => {
      this.ended = true;
      this.wake?.(false);
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', () => {});
  }

  /** A connection to the router listening on `port` on loopback. */
  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.off('error', reject);
        const c = new RawClient(socket);
        open.add(c);
        resolve(c);
      });
      socket.once('error', reject);
    });
  }

  /** True once the router has ended or closed the connection (as far as this client has seen). */
  get isClosed(): boolean {
    return this.ended;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  destroy(): void {
    this.socket.destroy();
    open.delete(this);
  }

  /** True once the router closed the connection (waits up to `timeoutMs` for it). */
  async closed(timeoutMs = READ_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) if (!(await this.more(deadline, false))) break;
    return this.ended;
  }

  /** The next response on the connection; `head` for the answer to a HEAD request. */
  async response(opts: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const deadline = Date.now() + (opts.timeoutMs ?? READ_TIMEOUT_MS);
    const statusLine = await this.line(deadline);
    const m = /^(HTTP\/\d\.\d) (\d{3})(?: .*)?$/.exec(statusLine);
    if (!m) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const status = Number(m[2]);
    const headers: [string, string][] = [];
    for (let l = await this.line(deadline); l !== ''; l = await this.line(deadline)) {
      const colon = l.indexOf(':');
      headers.push([l.slice(0, colon), l.slice(colon + 1).trim()]);
    }
    const res: RawResponse = { version: m[1], status, headers, body: Buffer.alloc(0), framing: 'none' };
    if (opts.head || status < 200 || status === 204 || status === 304) return res;
    const te = values(headers, 'transfer-encoding').join(',').toLowerCase();
    const cl = values(headers, 'content-length');
    if (te.includes('chunked')) {
      res.framing = 'chunked';
      const parts: Buffer[] = [];
      for (;;) {
        const size = parseInt((await this.line(deadline)).split(';')[0].trim(), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        if (size === 0) {
          while ((await this.line(deadline)) !== '') {
            /* trailer */
          }
          break;
        }
        parts.push(await this.exact(size, deadline));
        if ((await this.exact(2, deadline)).toString() !== '\r\n') throw new Error('chunk not followed by CRLF');
      }
      res.body = Buffer.concat(parts);
    } else if (cl.length > 0) {
      res.framing = 'length';
      res.body = await this.exact(Number(cl[0]), deadline);
    } else {
      res.framing = 'close';
      while (await this.more(deadline)) {
        /* read until the router closes */
      }
      res.body = this.take(this.buf.length);
    }
    return res;
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }

  private async line(deadline: number): Promise<string> {
    for (;;) {
      const at = this.buf.indexOf('\r\n');
      if (at >= 0) {
        const l = this.take(at + 2).toString('latin1');
        return l.slice(0, -2);
      }
      if (!(await this.more(deadline))) throw new Error('connection closed before a whole line');
    }
  }

  private async exact(n: number, deadline: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (!(await this.more(deadline))) throw new Error(`connection closed after ${this.buf.length} of ${n} bytes`);
    }
    return this.take(n);
  }

  /** Waits for more bytes: false once the connection is closed; throws past the deadline (a hang). */
  private more(deadline: number, throwOnTimeout = true): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        if (throwOnTimeout) reject(new Error('timed out waiting for the router'));
        else resolve(false);
      }, Math.max(0, deadline - Date.now()));
      this.wake = (gotData) => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(gotData);
      };
    });
  }
}
