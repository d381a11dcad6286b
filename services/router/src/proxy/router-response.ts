import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Address, Endpoint } from '../table/endpoint.js';
import type { EndpointPool } from '../table/endpoint-pool.js';
import type { RouterError } from '../status/metrics.js';
import type { Forwarded } from './forwarded-headers.js';
import type { Linked } from './in-progress.js';
import type { ResponseHead } from './response-parser.js';
import type { Exchange, UpstreamConnection } from './upstream-connection.js';

/**
 * The response of one proxied request, carrying the request's state along (the server is
 * created with it as its ServerResponse class). Keeping the state here, in declared fields, means
 * no extra object, no closures and no property added after the fact on the hot path: every
 * listener is a module-level function that finds what it needs on the response.
 */
export class RouterResponse extends http.ServerResponse<IncomingMessage> implements Exchange, Linked<RouterResponse>, Forwarded {
  /** performance.now() when the request was handled. */
  t0 = 0;
  /** When the request went to the app (the upstream socket was assigned); 0 if it never did. */
  tSent = 0;
  /** When the app's response headers arrived; 0 if they never did. */
  tFirst = 0;
  /** The connection the request arrived on, kept for byte counts after Node detaches it. */
  clientSocket: Socket | null = null;
  /** Handler for this response's events; set before any listener runs. */
  owner: ResponseOwner | null = null;
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
  /** How the request's body goes to the app (BodyFraming). */
  bodyFraming = 0;
  /** The whole request (head and body) went to the app. */
  requestSent = false;
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
  closed = false;
  // Its place among the requests in progress (InProgressList).
  prevInProgress: RouterResponse | null = null;
  nextInProgress: RouterResponse | null = null;
  inProgress = false;

  // The app's answer, from the connection carrying this request: handed to the proxy.
  upstreamHead(head: ResponseHead): void {
    this.owner!.onUpstreamHead(this, head);
  }
  upstreamBody(chunk: Buffer): void {
    this.owner!.onUpstreamBody(this, chunk);
  }
  upstreamEnd(): void {
    this.owner!.onUpstreamEnd(this);
  }
  upstreamFailure(err: NodeJS.ErrnoException, started: boolean): void {
    this.owner!.onUpstreamFailure(this, err, started);
  }
}

/** What a RouterResponse reports to: the proxy. */
export interface ResponseOwner {
  onUpstreamHead(res: RouterResponse, head: ResponseHead): void;
  onUpstreamBody(res: RouterResponse, chunk: Buffer): void;
  onUpstreamEnd(res: RouterResponse): void;
  onUpstreamFailure(res: RouterResponse, err: NodeJS.ErrnoException, started: boolean): void;
  onClose(res: RouterResponse): void;
}
