import net, { type Socket } from 'node:net';
import type { Address } from '../table/endpoint.js';
import { ResponseParseError, ResponseParser, type ResponseHead, type ResponseSink } from '../http1/response-parser.js';

/** What a connection reports the exchange on it to: one request's response, or why it failed. */
export interface Exchange extends ResponseSink {
  /**
   * The connection failed before the response was complete. `started` says whether any of the
   * response had arrived (then nothing may be retried).
   */
  upstreamFailure(err: NodeJS.ErrnoException, started: boolean): void;
  /** What was read so far has been parsed (a head held for the first body bytes can go out). */
  upstreamFlush(): void;
  /** The app took what was buffered for it: the client's body may flow again. */
  upstreamDrain(): void;
}

/**
 * A keep-alive connection to one app instance, carrying one request at a time. Its listeners are
 * set once, when it is made; a request only swaps the exchange they report to, so a request through
 * a reused connection costs no closures, no listener churn and no parser allocation.
 */
export class UpstreamConnection {
  readonly socket: Socket;
  /** performance.now() when it went back to the idle pool. */
  idleSince = 0;
  /** The request on it now; null while idle. */
  exchange: Exchange | null = null;
  /** The app ended its side: never to be handed out again. */
  closing = false;
  private readonly parser = new ResponseParser();
  private connectTimer: NodeJS.Timeout | null = null;
  private error: NodeJS.ErrnoException | null = null;

  constructor(
    readonly address: Address,
    connectTimeoutMs: number,
    private readonly onGone: (conn: UpstreamConnection) => void,
  ) {
    const socket = net.connect({
      host: address.host,
      port: address.port,
      noDelay: true,
      onread: { buffer: readBuffer, callback: (n: number, buf: Uint8Array) => this.onData((buf as Buffer).subarray(0, n)) },
    });
    this.socket = socket;
    (socket as SocketWithConn)[kConn] = this;
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('end', onSocketEnd);
    socket.on('drain', onSocketDrain);
    // A host gone from the network would leave connect() hanging for the kernel's minutes.
    this.connectTimer = setTimeout(onConnectTimeout, connectTimeoutMs, this);
    this.connectTimer.unref();
    socket.once('connect', onSocketConnect);
  }

  /** Starts a request: the caller writes its head (and body) next. */
  begin(exchange: Exchange, headRequest: boolean): void {
    this.exchange = exchange;
    this.parser.start(exchange, headRequest);
  }

  /** The exchange's response is complete: whether this connection can carry another request. */
  reusableAfter(head: ResponseHead | null, requestComplete: boolean): boolean {
    return head !== null && head.keepAlive && requestComplete && this.parser.done && !this.socket.destroyed && this.error === null;
  }

  /** Drops the request in progress and the connection with it (a client gone, a timeout). */
  abort(): void {
    this.exchange = null;
    this.parser.reset();
    this.socket.destroy();
  }

  write(data: string | Buffer): boolean {
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** Bytes from the app, valid only during the call (they are in the shared read buffer). */
  onData(chunk: Buffer): boolean {
    const exchange = this.exchange;
    if (exchange === null) {
      // Bytes from an idle connection belong to no request: the app is confused, stop talking to it.
      this.socket.destroy();
      return true;
    }
    try {
      this.parser.execute(chunk);
    } catch (err) {
      if (!(err instanceof ResponseParseError)) throw err;
      this.fail(err);
      return true;
    }
    if (this.exchange === exchange) exchange.upstreamFlush();
    return true;
  }

  /** The app closed its side: the end of a close-delimited body, else a failure. */
  onEnd(): void {
    this.closing = true;
    if (this.exchange !== null && this.parser.delimitedByClose) this.parser.onClose();
    this.socket.end();
  }

  onClose(): void {
    this.clearConnectTimer();
    const exchange = this.exchange;
    if (exchange !== null) {
      if (this.parser.delimitedByClose) this.parser.onClose();
      if (this.exchange !== null && !this.parser.done) this.fail(this.error ?? hangUp());
    }
    this.onGone(this);
  }

  onError(err: NodeJS.ErrnoException): void {
    this.error ??= err;
  }

  onConnected(): void {
    this.clearConnectTimer();
  }

  onConnectTimeout(): void {
    this.connectTimer = null;
    if (!this.socket.connecting) return;
    const err: NodeJS.ErrnoException = new Error(`connect to ${this.address.key} timed out`);
    err.code = 'ETIMEDOUT';
    this.error = err;
    this.socket.destroy();
  }

  private fail(err: NodeJS.ErrnoException): void {
    const exchange = this.exchange;
    this.exchange = null;
    const started = this.parser.started;
    this.parser.reset();
    this.socket.destroy();
    exchange?.upstreamFailure(err, started);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }
}

const kConn = Symbol('nap.upstreamConnection');

/**
 * What every app connection in the process reads into: reads are handled one at a time and to the
 * end, so one buffer serves them all, and a read costs no allocation and no stream machinery (about
 * a microsecond a request). What must outlive a read (a partial head, a body piece queued for a slow
 * client) is copied out of it.
 */
const readBuffer = Buffer.allocUnsafe(64 * 1024);

interface SocketWithConn extends Socket {
  [kConn]: UpstreamConnection;
}

function hangUp(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('socket hang up');
  err.code = 'ECONNRESET';
  return err;
}

function onSocketError(this: SocketWithConn, err: Error): void {
  this[kConn].onError(err);
}
function onSocketClose(this: SocketWithConn): void {
  this[kConn].onClose();
}
function onSocketEnd(this: SocketWithConn): void {
  this[kConn].onEnd();
}
function onSocketDrain(this: SocketWithConn): void {
  this[kConn].exchange?.upstreamDrain();
}
function onSocketConnect(this: SocketWithConn): void {
  this[kConn].onConnected();
}
function onConnectTimeout(conn: UpstreamConnection): void {
  conn.onConnectTimeout();
}
