import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Linked } from './linked-list.js';
import { MAX_HELD_BYTES, RequestParseError, RequestParser, type RequestHead, type RequestSink } from '../http1/request-parser.js';
import { errorAnswer } from './router-errors.js';

/** What the connection itself reads of the request being answered; the proxy's exchange holds the rest. */
export interface ClientExchange {
  bytesIn: number;
  bytesOut: number;
  /** The app's side, paused while this client was slow to take the answer; resumed when it drains. */
  upstream: { socket: { resume(): void } } | null;
}

/** What a client connection hands its requests to: the proxy, with its own kind of exchange X. */
export interface ConnectionOwner<X extends ClientExchange> {
  onRequest(conn: ClientConnection<X>, head: RequestHead): void;
  /** The client asked to switch protocols; the socket is the owner's from now on. */
  onUpgrade(conn: ClientConnection<X>, head: RequestHead, rest: Buffer | null): void;
  onRequestBody(x: X, chunk: Buffer): void;
  onRequestEnd(x: X): void;
  /** The client went away (or the connection was cut) with this request unanswered. */
  onClientGone(x: X): void;
  onConnectionClosed(conn: ClientConnection<X>): void;
}

/** A request body the router stopped wanting is read to its end only when that is this short. */
const MAX_DISCARD_BYTES = 64 * 1024;

/**
 * One client's connection to the router: its requests, one at a time, and their answers, in order.
 * Pipelined requests wait in the parser until the answer before them is written. Timeouts are not
 * timers: the proxy sweeps its connections (sweep()), since a timer per request costs more than
 * the request.
 */
export class ClientConnection<X extends ClientExchange = ClientExchange> implements RequestSink, Linked<ClientConnection<X>> {
  readonly parser: RequestParser;
  /** The client's address, read once (each read of socket.remoteAddress asks the kernel). */
  readonly remoteAddress: string | undefined;
  /** The request being answered, while its answer is not complete. */
  exchange: X | null = null;
  /** The current request was read whole (or there is none). */
  requestComplete = true;
  /** The current request's answer is complete (or there is none). */
  responseComplete = true;
  /** Since when the connection has been idle, or reading a head, or discarding a body. */
  since = performance.now();
  /** Close once the current answer is out: the client or the app asked for it. */
  closeAfterResponse = false;
  /** The client sent its FIN (and gave up on what it asked, as onEnd reads it). */
  clientEnded = false;
  closed = false;
  /** Reading paused: the app is slow to take a body, or too much is held. */
  private paused = false;
  /** The next request waits for the client to take the answers written so far (onDrain). */
  private awaitingDrain = false;
  // Its place among the proxy's open connections.
  prevLink: ClientConnection<X> | null = null;
  nextLink: ClientConnection<X> | null = null;
  linked = false;

  constructor(
    readonly socket: Socket,
    private readonly owner: ConnectionOwner<X>,
    /** The connection came in over TLS (the router's TLS port): its requests are https. */
    readonly secure = false,
  ) {
    this.parser = new RequestParser(this);
    this.remoteAddress = socket.remoteAddress;
    (socket as ClientSocket)[kConn] = this;
    socket.on('data', onClientData);
    socket.on('end', onClientEnd);
    socket.on('close', onClientClose);
    socket.on('error', onClientError);
    socket.on('drain', onClientDrain);
  }

  onData(chunk: Buffer): void {
    const wasIdle = this.parser.idle;
    try {
      this.parser.execute(chunk);
    } catch (err) {
      if (!(err instanceof RequestParseError)) throw err;
      this.refuse(err);
      return;
    }
    if (wasIdle && this.parser.inHead) this.since = performance.now();
    if (this.parser.heldBytes > MAX_HELD_BYTES) this.pauseReading();
  }

  // RequestSink: the parser's findings.
  requestHead(head: RequestHead): void {
    this.requestComplete = false;
    this.responseComplete = false;
    if (!head.keepAlive) this.closeAfterResponse = true;
    if (head.upgrade) {
      this.detach();
      this.owner.onUpgrade(this, head, this.parser.takeRest());
      return;
    }
    this.owner.onRequest(this, head);
  }

  requestBody(chunk: Buffer): void {
    const x = this.exchange;
    if (x === null) return; // answered already: the rest of the body is read and dropped
    x.bytesIn += chunk.length;
    this.owner.onRequestBody(x, chunk);
  }

  requestEnd(): void {
    this.requestComplete = true;
    const x = this.exchange;
    if (x !== null) this.owner.onRequestEnd(x);
    else if (this.responseComplete) this.nextRequest();
  }

  /** Writes to the client, counted for the exchange's access line. */
  send(x: X, data: string | Buffer): boolean {
    x.bytesOut += data.length;
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** The exchange's answer is complete: on to the next request, or close. */
  responseDone(x: X): void {
    if (this.exchange !== x) return;
    this.exchange = null;
    this.responseComplete = true;
    this.since = performance.now();
    if (this.closed) return;
    if (this.closeAfterResponse) return this.closeSoon();
    if (!this.requestComplete) {
      // Answered before the client finished sending its body: read the rest and drop it if it is
      // short, so the connection serves the next request; else close rather than take it all in,
      // though not at once: a close with the client's bytes unread is a reset, and its kernel then
      // drops the answer the client has not read yet (a client that sends all before it reads).
      const left = this.parser.bodyRemaining;
      this.resumeReading();
      if (left < 0 || left > MAX_DISCARD_BYTES || this.clientEnded) this.closeSoon();
      return;
    }
    this.nextRequest();
    // A client whose FIN came meanwhile asks nothing more.
    if (this.clientEnded && this.exchange === null) this.closeSoon();
  }

  /**
   * Ends the connection after what was written, and destroys it if the client lingers a second
   * once all of that is out: counted from the end() instead, a slow client lost the tail of an
   * answer still queued. One that takes none of it is closed by the sweep (idle).
   */
  private closeSoon(): void {
    this.parser.stop();
    const socket = this.socket;
    if (!socket.destroyed) socket.end(() => setTimeout(destroySocket, 1000, socket).unref());
  }

  /** Whether the answer to the current request may keep the connection open. */
  get keepAlive(): boolean {
    return !this.closeAfterResponse;
  }

  pauseReading(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resumeReading(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /**
   * Timeouts, checked by the proxy's sweep: a connection idle between requests past `idleMs` is
   * closed; a head not complete within `headMs` of its first byte gets 408; a dropped body still
   * arriving after `idleMs` is cut off.
   */
  sweep(now: number, idleMs: number, headMs: number): void {
    if (this.exchange !== null || this.closed) return;
    const elapsed = now - this.since;
    if (this.parser.inHead) {
      if (elapsed > headMs) this.refuse(new RequestParseError(408, 'request head not complete in time'));
    } else if (elapsed > idleMs) {
      this.close();
    }
  }

  /** Closes the connection now (the answer in progress, if any, is cut). */
  close(): void {
    this.parser.stop();
    this.socket.destroy();
  }

  /** A request the router will not read: its status, then the connection closed. */
  private refuse(err: RequestParseError): void {
    this.parser.stop();
    if (this.exchange !== null || this.socket.destroyed) {
      // Broken framing in the middle of a body: no answer can be sent in good order now.
      this.socket.destroy();
      return;
    }
    this.socket.write(errorAnswer({ status: err.status, body: `${err.status} ${STATUS_CODES[err.status] ?? ''}: ${err.message}\n` }));
    this.closeSoon();
  }

  private nextRequest(): void {
    this.since = performance.now();
    if (this.socket.writableNeedDrain) {
      // The client is not reading its answers: nothing more of its requests is read until it does,
      // or a run of pipelined requests the router answers itself piles up answers without end.
      this.awaitingDrain = true;
      this.pauseReading();
      return;
    }
    // Whatever paused reading (too much held, a slow app) was about the request just answered; the
    // next one may have a body still to come, and must be read for its answer to come at all.
    this.resumeReading();
    try {
      this.parser.next();
    } catch (err) {
      // A held request refused: thrown out of whatever answered the one before it (an app's read, a
      // timer), where nothing else would catch it.
      if (!(err instanceof RequestParseError)) throw err;
      this.refuse(err);
      return;
    }
    if (this.parser.heldBytes > MAX_HELD_BYTES) this.pauseReading();
  }

  /** The socket leaves this connection for a websocket tunnel. */
  private detach(): void {
    const socket = this.socket;
    socket.off('data', onClientData);
    socket.off('end', onClientEnd);
    socket.off('close', onClientClose);
    socket.off('error', onClientError);
    socket.off('drain', onClientDrain);
    this.closed = true;
    this.owner.onConnectionClosed(this);
  }

  onEnd(): void {
    // The client's FIN: as Node's server and nginx read it, the client gave up on what it asked.
    this.clientEnded = true;
    if (this.exchange === null) this.closeSoon();
    else this.close();
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.stop();
    const x = this.exchange;
    if (x !== null) {
      this.exchange = null;
      this.owner.onClientGone(x);
    }
    this.owner.onConnectionClosed(this);
  }

  onDrain(): void {
    if (this.awaitingDrain) {
      this.awaitingDrain = false;
      this.nextRequest();
    }
    const upstream = this.exchange?.upstream;
    if (upstream != null) upstream.socket.resume();
  }
}

const kConn = Symbol('nap.clientConnection');

interface ClientSocket extends Socket {
  [kConn]: ClientConnection;
}

function onClientData(this: ClientSocket, chunk: Buffer): void {
  this[kConn].onData(chunk);
}
function onClientEnd(this: ClientSocket): void {
  this[kConn].onEnd();
}
function onClientClose(this: ClientSocket): void {
  this[kConn].onClose();
}
function onClientError(): void {
  // A reset or a broken pipe: 'close' follows, and handles it.
}
function onClientDrain(this: ClientSocket): void {
  this[kConn].onDrain();
}
function destroySocket(socket: Socket): void {
  socket.destroy();
}
