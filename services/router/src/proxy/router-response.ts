import http from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Address, Endpoint } from '../table/endpoint.js';
import type { EndpointPool } from '../table/endpoint-pool.js';
import type { RouterError } from '../status/metrics.js';

/**
 * The response of one proxied request, carrying the request's state along (the server is
 * created with it as its ServerResponse class). Keeping the state here, in declared fields, means
 * no extra object, no closures and no property added after the fact on the hot path: every
 * listener is a module-level function that finds what it needs on the response.
 */
export class RouterResponse extends http.ServerResponse<IncomingMessage> {
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
  proxyReq: ClientRequest | null = null;
  requestId = '';
  /** The `__VCAP_ID__` the client sent, if any. */
  stickyId: string | undefined = undefined;
  /** Set when the router answered by itself. */
  routerError: RouterError | undefined = undefined;
  timedOut = false;
  /** Counted in the router's in-flight total, to be released exactly once. */
  counted = false;
  closed = false;
}

/** What a RouterResponse reports to: the proxy. */
export interface ResponseOwner {
  onProxyReq(proxyReq: ClientRequest, res: RouterResponse, target: unknown): void;
  onProxyError(err: NodeJS.ErrnoException, req: IncomingMessage, res: RouterResponse, target: unknown): void;
  onClose(res: RouterResponse): void;
}
