import type { RouterError } from '../status/metrics.js';
import type { Address, Endpoint } from '../table/endpoint.js';
import type { EndpointPool } from '../table/endpoint-pool.js';
import type { ClientConnection } from './client-connection.js';
import type { Forwarded } from './forwarded-headers.js';
import type { Linked } from './linked-list.js';
import type { RequestHead } from '../http1/request-parser.js';
import type { ResponseHead } from '../http1/response-parser.js';
import type { Exchange, UpstreamConnection } from './upstream-connection.js';

/** How the answer's body goes to the client. */
export const enum ClientFraming {
  /** No body, or one of the length the app's Content-Length gives. */
  AsIs,
  /** Re-chunked: the app's body has no length and the client speaks HTTP/1.1. */
  Chunked,
  /** Up to the close of the connection: no length, and an HTTP/1.0 client. */
  UntilClose,
}

/**
 * One request through the router, from its head to the last byte of its answer. Its state lives in
 * declared fields so that the request path makes one object per request and no closures: every
 * callback is a method here or a module-level function that finds what it needs on the exchange.
 */
export class ProxyExchange implements Exchange, Linked<ProxyExchange>, Forwarded {
  /** performance.now() when the request's head was read. */
  readonly t0 = performance.now();
  /** When the request went to the app; 0 if it never did. */
  tSent = 0;
  /** When the app's response head arrived; 0 if it never did. */
  tFirst = 0;
  pool: EndpointPool | null = null;
  /** The endpoint of the current try, while it counts as in flight there. */
  endpoint: Endpoint | null = null;
  /** The endpoint that answered, or was tried last, for the access log. */
  lastEndpoint: Endpoint | null = null;
  /** Endpoints this request already tried, when it has retried (made only then). */
  tried: Address[] | undefined = undefined;
  attempts = 0;
  /** The connection to the app carrying the current try, until its response is complete. */
  upstream: UpstreamConnection | null = null;
  /** The request head as it goes to the app, made once and kept for a retry. */
  upstreamRequestHead = '';
  /** The whole request (head and body) went to the app. */
  requestSent = false;
  /** The client's body ended (or there was none). */
  requestEnded = false;
  /** The app's response head, once it came. */
  responseHead: ResponseHead | null = null;
  requestId = '';
  forwardedFor: string | undefined = undefined;
  forwardedProto = 'http';
  forwardedHost: string | undefined = undefined;
  /** The `__VCAP_ID__` the client sent, if any. */
  stickyId: string | undefined = undefined;
  /** Set when the router answered by itself. */
  routerError: RouterError | undefined = undefined;
  timedOut = false;
  /** Counted in the router's in-flight total, to be released exactly once. */
  counted = false;
  /** Its answer is complete or abandoned, and it has been recorded. */
  finished = false;
  /** The status sent to the client; 0 until the head went out. */
  status = 0;
  framing = ClientFraming.AsIs;
  /** The answer's head, held to go out in one write with the first piece of body. */
  pendingHead: string | null = null;
  /** `100 Continue` went to the client. */
  continued = false;
  bytesIn = 0;
  bytesOut = 0;
  // Its place among the requests in progress.
  prevLink: ProxyExchange | null = null;
  nextLink: ProxyExchange | null = null;
  linked = false;

  constructor(
    readonly owner: ExchangeOwner,
    readonly conn: ClientConnection<ProxyExchange>,
    readonly head: RequestHead,
  ) {
    this.bytesIn = head.headBytes;
  }

  /** Whether the answer's head went out (a held head can still give way to the router's own 502). */
  get headersSent(): boolean {
    return this.status !== 0 && this.pendingHead === null;
  }

  // The app's answer, from the connection carrying this request: handed to the proxy.
  upstreamHead(head: ResponseHead): void {
    this.owner.onUpstreamHead(this, head);
  }
  upstreamBody(chunk: Buffer): void {
    this.owner.onUpstreamBody(this, chunk);
  }
  upstreamEnd(): void {
    this.owner.onUpstreamEnd(this);
  }
  upstreamFailure(err: NodeJS.ErrnoException, started: boolean): void {
    this.owner.onUpstreamFailure(this, err, started);
  }
  upstreamFlush(): void {
    this.owner.onUpstreamFlush(this);
  }
  upstreamDrain(): void {
    this.conn.resumeReading();
  }
}

/** What an exchange reports to: the proxy. */
export interface ExchangeOwner {
  onUpstreamHead(x: ProxyExchange, head: ResponseHead): void;
  onUpstreamBody(x: ProxyExchange, chunk: Buffer): void;
  onUpstreamEnd(x: ProxyExchange): void;
  onUpstreamFailure(x: ProxyExchange, err: NodeJS.ErrnoException, started: boolean): void;
  onUpstreamFlush(x: ProxyExchange): void;
}
