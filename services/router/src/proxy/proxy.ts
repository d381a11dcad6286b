import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '@nap/common';
import type { AccessLog } from '../accesslog/access-log.js';
import { sessionSetCookie, stickyEndpoint, stickyInstanceId, vcapIdCookie } from '../balancing/sticky.js';
import type { BalancingStrategy } from '../balancing/strategy.js';
import { closeServer, listen } from '../http-server.js';
import type { RouterError, RouterMetrics } from '../status/metrics.js';
import type { Endpoint } from '../table/endpoint.js';
import { normalizeHost } from '../table/endpoint.js';
import type { RouteTable } from '../table/route-table.js';
import { settleForwarded } from './forwarded-headers.js';
import type { ResponseHead } from './response-parser.js';
import { InProgressList } from './in-progress.js';
import { isDialFailure, maxAttempts, shouldRetry } from './retry-policy.js';
import { errorBody, errorStatus } from './router-errors.js';
import { RouterResponse } from './router-response.js';
import { UpstreamPool } from './upstream-pool.js';
import { BodyFraming, bodyFraming, upstreamRequestHead } from './upstream-request.js';
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

const kBytesRead = Symbol('nap.bytesRead');
const kBytesWritten = Symbol('nap.bytesWritten');
const kResponse = Symbol('nap.routerResponse');

interface CountedSocket extends Socket {
  [kBytesRead]?: number;
  [kBytesWritten]?: number;
}

interface ProxiedRequest extends IncomingMessage {
  [kResponse]?: RouterResponse;
}

/**
 * The request path: Host header → pool → endpoint, over keep-alive connections of the router's own
 * (UpstreamPool), with retries on connection failures, sticky sessions, limits and timeouts.
 * Clients are served by Node's HTTP server (llhttp parses what the world sends); the app side is a
 * plain socket per instance connection with a small response parser, because Node's HTTP client
 * (and http-proxy on top of it) cost more than half of the router's time per request. Listeners are
 * module-level functions and a request's state lives on its RouterResponse.
 */
export class RouterProxy {
  readonly server: http.Server;
  private readonly upstream: UpstreamPool;
  private readonly websockets: WebsocketProxy;
  /** Proxied requests in the order they arrived: the oldest are the first to time out. */
  private readonly inProgress = new InProgressList<RouterResponse>();
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
    this.upstream = new UpstreamPool({
      idleMs: opts.upstreamIdleMs ?? 4000,
      connectTimeoutMs: this.connectTimeoutMs,
      maxIdlePerAddress: 256,
    });

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
    this.upstream.close();
  }

  /** Sockets to apps: busy with a request, and idle in the keep-alive pool. */
  upstreamSockets(): { active: number; idle: number; websockets: number } {
    return { ...this.upstream.counts(), websockets: this.metrics.websocketsOpen };
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
    settleForwarded(req, res);
    if (headers.cookie !== undefined) res.stickyId = stickyInstanceId(headers.cookie);
    let url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47 /* / */) url = originForm(url);
    const framing = bodyFraming(req);
    res.bodyFraming = framing;
    res.upstreamRequestHead = upstreamRequestHead(req, url, framing, res);
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
    address.inFlight++;
    const conn = this.upstream.acquire(address);
    res.upstream = conn;
    conn.begin(res, req.method === 'HEAD');
    res.tSent = performance.now();
    if (res.bodyFraming === BodyFraming.None) {
      conn.write(res.upstreamRequestHead);
      res.requestSent = true;
      return;
    }
    // Only the first try carries a body (retry-policy: a request with a body is never replayed).
    conn.write(res.upstreamRequestHead);
    (req as ProxiedRequest)[kResponse] = res;
    req.on('data', onRequestData);
    req.on('end', onRequestEnd);
  }

  onUpstreamHead(res: RouterResponse, head: ResponseHead): void {
    res.tFirst = performance.now();
    res.responseHead = head;
    let headers = head.headers;
    if (res.stickyId !== undefined || hasSetCookie(headers)) headers = withStickyCookie(res, headers);
    try {
      res.writeHead(head.status, head.reason, headers);
    } catch (err) {
      // A header Node will not write (a control character in a value): the app's answer is unusable.
      this.onUpstreamFailure(res, err as NodeJS.ErrnoException, true);
    }
  }

  onUpstreamBody(res: RouterResponse, chunk: Buffer): void {
    if (!res.write(chunk)) {
      // A slow client: stop reading from the app until it has taken what is buffered.
      const conn = res.upstream;
      if (conn !== null) {
        conn.socket.pause();
        res.once('drain', onClientDrain);
      }
    }
  }

  onUpstreamEnd(res: RouterResponse): void {
    const conn = res.upstream;
    res.upstream = null;
    this.releaseEndpoint(res);
    if (conn !== null) {
      if (conn.reusableAfter(res.responseHead, res.requestSent)) this.upstream.release(conn);
      else conn.abort();
    }
    res.end();
  }

  onUpstreamFailure(res: RouterResponse, err: NodeJS.ErrnoException, started: boolean): void {
    const conn = res.upstream;
    res.upstream = null;
    conn?.abort();
    // Failures of a request already answered, timed out or abandoned.
    if (res.endpoint === null || res.closed || res.timedOut) return;
    const endpoint = res.endpoint;
    this.releaseEndpoint(res);
    const address = endpoint.address;
    const dial = isDialFailure(err);
    if (dial) address.failing = true;
    const req = res.req;
    const where = { requestId: res.requestId, host: req.headers.host, endpoint: address.key, attempt: res.attempts, code: err.code };
    if (!started && !res.headersSent && res.attempts < maxAttempts && shouldRetry(err, req)) {
      this.log.warn(where, dial ? 'endpoint unreachable, marked failing; trying another' : 'endpoint failed, trying another');
      (res.tried ??= []).push(address);
      this.attempt(req, res);
      return;
    }
    this.log.warn({ ...where, err }, 'endpoint failed');
    this.sendError(res, 'endpoint_failure');
  }

  onClose(res: RouterResponse): void {
    res.closed = true;
    // The client went away first (or the router timed the request out): free the app's socket
    // now, not when the app finishes.
    const conn = res.upstream;
    if (conn !== null) {
      res.upstream = null;
      conn.abort();
    }
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
    let res: RouterResponse | null;
    while ((res = this.inProgress.oldest()) !== null && res.t0 <= deadline) {
      this.inProgress.delete(res);
      res.timedOut = true;
      this.releaseEndpoint(res);
      res.upstream?.abort();
      res.upstream = null;
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

function hasSetCookie(headers: string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === 10 && name.toLowerCase() === 'set-cookie') return true;
  }
  return false;
}

/**
 * The app's `JSESSIONID` gets a `__VCAP_ID__` beside it naming the instance; so does a request that
 * asked for an instance no longer there and went to another (gorouter does both).
 */
function withStickyCookie(res: RouterResponse, headers: string[]): string[] {
  const instanceId = res.lastEndpoint?.privateInstanceId;
  if (instanceId === undefined) return headers;
  const setCookies: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i].toLowerCase() === 'set-cookie') setCookies.push(headers[i + 1]);
  const session = sessionSetCookie(setCookies.length > 0 ? setCookies : undefined);
  if (session === undefined && (res.stickyId === undefined || res.stickyId === instanceId)) return headers;
  return [...headers, 'Set-Cookie', vcapIdCookie(instanceId, session)];
}

function onRequestData(this: ProxiedRequest, chunk: Buffer): void {
  const res = this[kResponse];
  const conn = res?.upstream;
  if (res === undefined || conn == null) return;
  let ok: boolean;
  if (res.bodyFraming === BodyFraming.Chunked) {
    conn.socket.cork();
    conn.write(`${chunk.length.toString(16)}\r\n`);
    conn.write(chunk);
    ok = conn.write('\r\n');
    conn.socket.uncork();
  } else ok = conn.write(chunk);
  if (!ok) {
    // A slow app: stop reading the client's body until the app has taken what is buffered.
    this.pause();
    conn.socket.once('drain', () => this.resume());
  }
}

function onRequestEnd(this: ProxiedRequest): void {
  const res = this[kResponse];
  const conn = res?.upstream;
  if (res === undefined || conn == null) return;
  if (res.bodyFraming === BodyFraming.Chunked) conn.write('0\r\n\r\n');
  res.requestSent = true;
}

function onClientDrain(this: RouterResponse): void {
  this.upstream?.socket.resume();
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
