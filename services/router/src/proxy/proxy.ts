import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Logger } from '@nap/common';
import httpProxy from 'http-proxy';
import type { AccessLog } from '../accesslog/access-log.js';
import { sessionSetCookie, stickyEndpoint, stickyInstanceId, vcapIdCookie } from '../balancing/sticky.js';
import type { BalancingStrategy } from '../balancing/strategy.js';
import { closeServer, listen } from '../http-server.js';
import type { RouterError, RouterMetrics } from '../status/metrics.js';
import type { Endpoint } from '../table/endpoint.js';
import { normalizeHost } from '../table/endpoint.js';
import type { RouteTable } from '../table/route-table.js';
import { addForwardedHeaders, removeHopByHop } from './forwarded-headers.js';
import { isDialFailure, maxAttempts, shouldRetry } from './retry-policy.js';
import { errorBody, errorStatus } from './router-errors.js';
import { RouterResponse } from './router-response.js';
import { agentSockets, armConnectTimeout } from './upstream.js';
import { WebsocketProxy } from './websocket.js';

export interface ProxyOptions {
  port: number;
  /** Interface to listen on; all of them by default, since this is the platform's front door. */
  listenHost?: string;
  /** The whole request to the app; on expiry 504 if nothing was sent yet, else the response is cut. */
  requestTimeoutMs: number;
  /** How long a client's keep-alive connection may idle between requests. */
  idleTimeoutMs: number;
  /** Requests in flight per app instance (in this process); past it another instance is tried, else 503. */
  maxConnsPerInstance: number;
  /** Requests in flight in this process; past it requests are refused at once with 503 overloaded. */
  maxInFlight: number;
  /**
   * Idle keep-alive sockets to apps are closed after this long. Shorter than the apps' keep-alive
   * timeout (Node's default is 5 s) so the router never reuses a socket the app is closing.
   */
  upstreamIdleMs?: number;
  /** A new connection to an instance that takes longer than this counts as a failed connect. */
  connectTimeoutMs?: number;
  accessLog?: AccessLog;
}

const kResponse = Symbol('nap.routerResponse');
const kBytesRead = Symbol('nap.bytesRead');
const kBytesWritten = Symbol('nap.bytesWritten');

interface CountedSocket extends Socket {
  [kBytesRead]?: number;
  [kBytesWritten]?: number;
}

interface UpstreamResponse extends IncomingMessage {
  [kResponse]?: RouterResponse;
}

/**
 * The request path: Host header → pool → endpoint, through http-proxy with a keep-alive agent, with
 * retries on connection failures, sticky sessions, limits and timeouts. Listeners are module-level
 * functions and the request's state lives on its RouterResponse, so a request allocates little
 * beyond what Node and http-proxy do themselves.
 */
export class RouterProxy {
  readonly server: http.Server;
  private readonly agent: http.Agent;
  private readonly proxy: httpProxy;
  private readonly websockets: WebsocketProxy;
  /** Proxied requests in the order they arrived: the oldest are the first to time out. */
  private readonly inProgress = new Set<RouterResponse>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly connectTimeoutMs: number;
  private readonly maxConns: number;
  private readonly maxInFlight: number;
  private readonly accessLog: AccessLog | undefined;

  constructor(
    private readonly table: RouteTable,
    private readonly balancing: BalancingStrategy,
    private readonly log: Logger,
    readonly metrics: RouterMetrics,
    private readonly opts: ProxyOptions,
  ) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.maxConns = opts.maxConnsPerInstance;
    this.maxInFlight = opts.maxInFlight;
    this.accessLog = opts.accessLog?.active ? opts.accessLog : undefined;
    const upstreamIdleMs = opts.upstreamIdleMs ?? 4000;
    this.agent = new http.Agent({
      keepAlive: true,
      // The per-instance cap is enforced before a request reaches the agent, so it never queues here.
      maxSockets: opts.maxConnsPerInstance,
      maxFreeSockets: 256,
      timeout: upstreamIdleMs,
      // Most recently used first: the sockets left over after a burst go idle and are closed.
      scheduling: 'lifo',
    });
    // No xfwd (set once by addForwardedHeaders) and toProxy: req.url goes out as it came instead of
    // through url.parse on every request (absolute-form URLs are made relative in handle()).
    this.proxy = httpProxy.createProxyServer({ agent: this.agent, xfwd: false, changeOrigin: false, toProxy: true, prependPath: false });
    // Every web() call passes its own callback; this catches anything http-proxy emits regardless.
    this.proxy.on('error', (err) => this.log.warn({ err }, 'proxy error'));
    this.proxy.on('proxyReq', onProxyReq);
    this.proxy.on('proxyRes', onProxyRes);

    this.websockets = new WebsocketProxy(table, balancing, log, metrics, {
      maxConnsPerInstance: opts.maxConnsPerInstance,
      maxInFlight: opts.maxInFlight,
      connectTimeoutMs: this.connectTimeoutMs,
      handshakeTimeoutMs: opts.requestTimeoutMs,
      accessLog: this.accessLog,
    });

    this.server = http.createServer(
      // Uploads of big app packages may take long; the request timeout below bounds each request.
      { ServerResponse: RouterResponse as unknown as typeof ServerResponse, requestTimeout: 0 },
      (req, res) => this.handle(req, res as unknown as RouterResponse),
    );
    this.server.keepAliveTimeout = opts.idleTimeoutMs;
    // A client must send a whole header block within this; longer than keepAliveTimeout, as Node wants.
    this.server.headersTimeout = opts.idleTimeoutMs + 1000;
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.websockets.handleUpgrade(req, socket, head));
    this.server.on('clientError', (_err, socket: Socket) => {
      if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });

    this.sweepTimer = setInterval(() => this.expireOld(), Math.max(50, Math.min(1000, opts.requestTimeoutMs / 4)));
    this.sweepTimer.unref();
  }

  listen(): Promise<void> {
    return listen(this.server, this.opts.port, this.opts.listenHost);
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await closeServer(this.server);
    this.websockets.close();
    this.agent.destroy();
  }

  /** Sockets to apps: busy with a request, and idle in the keep-alive pool. */
  upstreamSockets(): { active: number; idle: number; websockets: number } {
    return { ...agentSockets(this.agent), websockets: this.metrics.websocketsOpen };
  }

  private handle(req: IncomingMessage, res: RouterResponse): void {
    res.t0 = performance.now();
    res.owner = this;
    res.clientSocket = req.socket;
    res.on('close', onResponseClose);
    // Refuse before doing anything else: under overload, a fast no beats a slow everything.
    if (this.metrics.inFlight >= this.maxInFlight) return this.sendError(res, 'overloaded');
    this.metrics.inFlight++;
    res.counted = true;

    const headers = req.headers;
    const host = headers.host;
    if (host === undefined || host === '') return this.sendError(res, 'empty_host');
    const pool = this.table.lookup(host);
    if (pool === undefined) return this.sendError(res, 'unknown_route', normalizeHost(host));
    res.pool = pool;
    res.requestId = addForwardedHeaders(req);
    // Node has already answered `100 Continue` to the client; passing the header on would make the
    // app answer it again (and http-proxy skips its proxyReq event for such requests).
    if (headers.expect !== undefined) delete headers.expect;
    if (headers.connection !== undefined) removeHopByHop(headers);
    const url = req.url;
    if (url !== undefined && url.charCodeAt(0) !== 47 /* / */) req.url = originForm(url);
    if (headers.cookie !== undefined) res.stickyId = stickyInstanceId(headers.cookie);
    this.inProgress.add(res);
    this.attempt(req, res);
  }

  /** One try: the sticky instance first when there is one, else the balancing strategy's pick. */
  private attempt(req: IncomingMessage, res: RouterResponse): void {
    const pool = res.pool!;
    let endpoint: Endpoint | undefined;
    if (res.stickyId !== undefined && res.attempts === 0) endpoint = stickyEndpoint(pool, res.stickyId, this.maxConns, undefined);
    if (endpoint === undefined) endpoint = this.balancing.pick(pool, this.maxConns, res.tried);
    if (endpoint === undefined) return this.sendError(res, res.attempts === 0 ? 'no_endpoints' : 'endpoint_failure');
    const address = endpoint.address;
    res.attempts++;
    res.endpoint = endpoint;
    res.lastEndpoint = endpoint;
    res.proxyReq = null;
    res.tSent = 0;
    address.inFlight++;
    // A body stream can be piped once; a retry (of a bodyless request) gets a fresh empty one.
    const options = res.attempts === 1 ? address.proxyOptions : { target: address.target, buffer: Readable.from([]) };
    this.proxy.web(req, res, options, onWebError);
  }

  onProxyError(err: NodeJS.ErrnoException, req: IncomingMessage, res: RouterResponse, target: unknown): void {
    const endpoint = res.endpoint;
    // Errors of an earlier try, or of a request already answered, timed out or abandoned.
    if (endpoint === null || endpoint.address.target !== target || res.closed || res.timedOut) return;
    this.releaseEndpoint(res);
    const address = endpoint.address;
    const dial = isDialFailure(err);
    if (dial) address.failing = true;
    const where = { requestId: res.requestId, host: req.headers.host, endpoint: address.key, attempt: res.attempts, code: err.code };
    if (!res.headersSent && res.attempts < maxAttempts && shouldRetry(err, req)) {
      this.log.warn(where, dial ? 'endpoint unreachable, marked failing; trying another' : 'endpoint failed, trying another');
      (res.tried ??= []).push(address);
      this.attempt(req, res);
      return;
    }
    this.log.warn({ ...where, err }, 'endpoint failed');
    this.sendError(res, 'endpoint_failure');
  }

  onProxyReq(proxyReq: ClientRequest, res: RouterResponse, target: unknown): void {
    if (res.closed || res.timedOut || res.endpoint === null || res.endpoint.address.target !== target) {
      // The client left (or the router answered) before the request reached the app.
      proxyReq.destroy();
      return;
    }
    res.proxyReq = proxyReq;
    res.tSent = performance.now();
    const socket = proxyReq.socket;
    if (socket !== null && socket.connecting) armConnectTimeout(proxyReq, socket, this.connectTimeoutMs);
  }

  onClose(res: RouterResponse): void {
    res.closed = true;
    const proxyReq = res.proxyReq;
    // The client went away first (or the router timed the request out): free the app's socket
    // now, not when the app finishes. Node does not abort the upstream request by itself once the
    // client's request was complete, and http-proxy only listens for 'aborted'.
    if (proxyReq !== null && (!res.writableFinished || res.timedOut) && !proxyReq.destroyed) proxyReq.destroy();
    this.releaseEndpoint(res);
    if (res.counted) this.metrics.inFlight--;
    this.inProgress.delete(res);

    const totalMs = performance.now() - res.t0;
    const appMs = res.tFirst > 0 && res.tSent > 0 ? res.tFirst - res.tSent : 0;
    // 499 as nginx logs it: the client closed before any answer.
    const status = res.headersSent ? res.statusCode : 499;
    let bytesIn = 0;
    let bytesOut = 0;
    const socket = res.clientSocket as CountedSocket | null;
    if (socket !== null) {
      const read = socket.bytesRead;
      const written = socket.bytesWritten;
      bytesIn = read - (socket[kBytesRead] ?? 0);
      bytesOut = written - (socket[kBytesWritten] ?? 0);
      socket[kBytesRead] = read;
      socket[kBytesWritten] = written;
    }
    this.metrics.record(status, bytesIn, bytesOut, totalMs, appMs);
    const accessLog = this.accessLog;
    if (accessLog !== undefined) {
      const req = res.req;
      accessLog.write({
        method: req.method,
        host: req.headers.host,
        path: req.url,
        status,
        bytesIn,
        bytesOut,
        totalMs,
        appMs,
        endpoint: res.lastEndpoint?.address.key,
        requestId: res.requestId,
        attempts: res.attempts,
        error: res.routerError,
      });
    }
  }

  private releaseEndpoint(res: RouterResponse): void {
    const endpoint = res.endpoint;
    if (endpoint !== null) {
      endpoint.address.inFlight--;
      res.endpoint = null;
    }
  }

  private expireOld(): void {
    const deadline = performance.now() - this.opts.requestTimeoutMs;
    for (const res of this.inProgress) {
      if (res.t0 > deadline) break;
      this.inProgress.delete(res);
      res.timedOut = true;
      this.releaseEndpoint(res);
      res.proxyReq?.destroy();
      this.log.warn({ requestId: res.requestId, host: res.req.headers.host, endpoint: res.lastEndpoint?.address.key }, 'request timed out');
      if (res.headersSent) {
        // Part of the app's answer is out: cutting the connection is the only honest signal left.
        res.routerError = 'timeout';
        this.metrics.errors.timeout++;
        res.destroy();
      } else {
        this.sendError(res, 'timeout');
      }
    }
  }

  private sendError(res: RouterResponse, code: RouterError, host?: string): void {
    if (res.destroyed || res.writableEnded) return;
    res.routerError = code;
    this.metrics.errors[code]++;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = errorBody(code, host);
    res.writeHead(errorStatus[code], {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-nap-router-error': code,
      ...(res.requestId ? { 'x-vcap-request-id': res.requestId } : {}),
    });
    res.end(body);
  }
}

function onWebError(err: Error, req: IncomingMessage, res: ServerResponse | Socket, target?: unknown): void {
  const r = res as RouterResponse;
  r.owner?.onProxyError(err as NodeJS.ErrnoException, req, r, target);
}

function onProxyReq(proxyReq: ClientRequest, _req: IncomingMessage, res: ServerResponse, options: { target?: unknown }): void {
  const r = res as RouterResponse;
  r.owner?.onProxyReq(proxyReq, r, options.target);
}

function onProxyRes(proxyRes: UpstreamResponse, _req: IncomingMessage, res: ServerResponse): void {
  const r = res as RouterResponse;
  r.tFirst = performance.now();
  proxyRes[kResponse] = r;
  proxyRes.on('close', onUpstreamResponseClose);
  const setCookie = proxyRes.headers['set-cookie'];
  if (setCookie !== undefined || r.stickyId !== undefined) addStickyCookie(proxyRes, r, setCookie);
}

/**
 * The app's `JSESSIONID` gets a `__VCAP_ID__` beside it naming the instance; so does a request that
 * asked for an instance no longer there and went to another (gorouter does both).
 */
function addStickyCookie(proxyRes: IncomingMessage, res: RouterResponse, setCookie: string[] | undefined): void {
  const instanceId = res.lastEndpoint?.privateInstanceId;
  if (instanceId === undefined) return;
  const session = sessionSetCookie(setCookie);
  if (session === undefined && (res.stickyId === undefined || res.stickyId === instanceId)) return;
  proxyRes.headers['set-cookie'] = [...(setCookie ?? []), vcapIdCookie(instanceId, session)];
}

/** The app dropped the connection mid-response: pass the truncation on instead of hanging the client. */
function onUpstreamResponseClose(this: UpstreamResponse): void {
  if (!this.complete) this[kResponse]?.destroy();
}

function onResponseClose(this: RouterResponse): void {
  this.owner?.onClose(this);
}

/** `GET http://host/path` (absolute form, as sent to proxies) → `/path`. */
function originForm(url: string): string {
  if (url === '*') return url;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return url.startsWith('/') ? url : `/${url}`;
  }
}
