import { STATUS_CODES } from 'node:http';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Logger } from '@nap/common';
import type { AccessLog } from '../accesslog/access-log.js';
import { sessionSetCookie, stickyInstanceId, vcapIdCookie } from '../balancing/sticky.js';
import { admit, pickEndpoint } from './admission.js';
import type { BalancingStrategy } from '../balancing/strategy.js';
import type { RouterError, RouterMetrics } from '../status/metrics.js';
import type { Address } from '../table/endpoint.js';
import type { RouteTable } from '../table/route-table.js';
import { ClientConnection, type ConnectionOwner } from './client-connection.js';
import { ClientFraming, ProxyExchange, type ExchangeOwner } from './exchange.js';
import { settleForwarded } from './forwarded-headers.js';
import { LinkedList } from './linked-list.js';
import type { RequestHead } from '../http1/request-parser.js';
import type { ResponseHead } from '../http1/response-parser.js';
import { isDialFailure, maxAttempts, shouldRetry } from './retry-policy.js';
import { errorAnswer, errorBody, errorStatus } from './router-errors.js';
import { UpstreamPool } from './upstream-pool.js';
import { upgradeRequest, upstreamRequestHead } from './upstream-request.js';
import { WebsocketProxy } from './websocket.js';
import { type CertificateStore, TLS_MIN_VERSION } from '../tls/certificate-store.js';

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
  /** TLS on a port of its own (issue 17): certificates by SNI, and the session ticket keys of the day. */
  tls?: { port: number; certificates: CertificateStore; ticketKeys: () => Buffer };
}

/** Where an ACME server asks for an HTTP-01 answer; a token nap did not put there goes to the app. */
const ACME_CHALLENGE = '/.well-known/acme-challenge/';
/** How long a client may take over its TLS handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** What an https-only route's answers over TLS tell browsers (a year, as HSTS preload lists ask). */
const HSTS = 'Strict-Transport-Security: max-age=31536000\r\n';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const LAST_CHUNK = '0\r\n\r\n';

/**
 * The request path: Host header → pool → endpoint, with retries on connection failures, sticky
 * sessions, limits and timeouts. Both sides are plain sockets with parsers of the router's own
 * (ClientConnection and RequestParser for clients, UpstreamPool and ResponseParser for apps):
 * Node's HTTP server and client, and http-proxy on top, cost the router most of its time per
 * request. A request's state lives on its ProxyExchange, and every callback is a method or a
 * module-level function, so a request makes one object and no closures.
 */
export class RouterProxy implements ConnectionOwner<ProxyExchange>, ExchangeOwner {
  readonly server: net.Server;
  readonly tlsServer: tls.Server | undefined;
  private ticketTimer: NodeJS.Timeout | undefined;
  private readonly upstream: UpstreamPool;
  private readonly websockets: WebsocketProxy;
  /** Proxied requests in the order they arrived: the oldest are the first to time out. */
  private readonly inProgress = new LinkedList<ProxyExchange>();
  private readonly connections = new LinkedList<ClientConnection<ProxyExchange>>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly maxConns: number;
  private readonly maxInFlight: number;
  private readonly accessLog: AccessLog | undefined;
  /** What a kept-alive answer says about the connection, with the idle timeout in it. */
  private readonly keepAliveHeaders: string;

  constructor(
    private readonly table: RouteTable,
    private readonly balancing: BalancingStrategy,
    private readonly log: Logger,
    readonly metrics: RouterMetrics,
    private readonly opts: ProxyOptions,
  ) {
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.maxConns = opts.maxConnsPerInstance;
    this.maxInFlight = opts.maxInFlight;
    this.accessLog = opts.accessLog?.active ? opts.accessLog : undefined;
    this.keepAliveHeaders = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.max(1, Math.floor(opts.idleTimeoutMs / 1000))}\r\n`;
    this.upstream = new UpstreamPool({ idleMs: opts.upstreamIdleMs ?? 4000, connectTimeoutMs, maxIdlePerAddress: 256 });
    this.websockets = new WebsocketProxy(table, balancing, log, metrics, {
      maxConnsPerInstance: opts.maxConnsPerInstance,
      maxInFlight: opts.maxInFlight,
      connectTimeoutMs,
      handshakeTimeoutMs: opts.requestTimeoutMs,
      accessLog: this.accessLog,
    });
    // Half-open: a client that sends its requests and then its FIN still gets its answers.
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.onConnection(socket, false));
    const t = opts.tls;
    if (t) {
      const server = tls.createServer(
        { noDelay: true, allowHalfOpen: true, SNICallback: t.certificates.sni, minVersion: TLS_MIN_VERSION, ALPNProtocols: ['http/1.1'], ticketKeys: t.ticketKeys(), handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
        (socket) => this.onConnection(socket, true),
      );
      // A client that sends no SNI (an address, not a name) gets the default certificate.
      const useDefault = (pem: { cert: string; key: string }) => server.setSecureContext({ ...pem, minVersion: TLS_MIN_VERSION });
      if (t.certificates.defaultPem) useDefault(t.certificates.defaultPem);
      t.certificates.onDefault = useDefault;
      this.ticketTimer = setInterval(() => server.setTicketKeys(t.ticketKeys()), 600_000);
      this.ticketTimer.unref();
      this.tlsServer = server;
    }
    const every = Math.max(50, Math.min(1000, opts.requestTimeoutMs / 4, opts.idleTimeoutMs / 4));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  async listen(): Promise<void> {
    await listenOn(this.server, this.opts.port, this.opts.listenHost);
    if (this.tlsServer) await listenOn(this.tlsServer, this.opts.tls!.port, this.opts.listenHost);
  }

  /** Stops accepting; idle connections close now, the rest once their answer is out (2 s at most). */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    clearInterval(this.ticketTimer);
    const closed = Promise.all([this.server, this.tlsServer].map((s) => new Promise<void>((resolve) => (s?.listening ? s.close(() => resolve()) : resolve()))));
    const deadline = performance.now() + 2000;
    for (;;) {
      for (let c = this.connections.first(); c !== null; ) {
        const next = c.nextLink;
        if (c.exchange === null) c.close();
        else c.closeAfterResponse = true;
        c = next;
      }
      if (this.connections.size === 0 || performance.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    for (let c = this.connections.first(); c !== null; c = c.nextLink) c.close();
    await closed;
    this.websockets.close();
    this.upstream.close();
  }

  /** An instance is lost: what is open to it ends now; requests that had no answer yet are retried elsewhere (§8). */
  abandon(address: Address): number {
    return this.upstream.abandon(address) + this.websockets.abandon(address);
  }

  /** Sockets to apps: busy with a request, and idle in the keep-alive pool. */
  upstreamSockets(): { active: number; idle: number; websockets: number } {
    return { ...this.upstream.counts(), websockets: this.metrics.websocketsOpen };
  }

  private onConnection(socket: Socket, secure: boolean): void {
    this.connections.add(new ClientConnection<ProxyExchange>(socket, this, secure));
  }

  onConnectionClosed(conn: ClientConnection<ProxyExchange>): void {
    this.connections.delete(conn);
  }

  onRequest(conn: ClientConnection<ProxyExchange>, head: RequestHead): void {
    const x = new ProxyExchange(this, conn, head);
    conn.exchange = x;
    if (this.table.acmeChallenges.size > 0 && head.url.startsWith(ACME_CHALLENGE)) {
      const answer = this.table.acmeChallenges.get(head.url.slice(ACME_CHALLENGE.length));
      if (answer !== undefined) return this.sendOwn(x, 200, answer);
    }
    const admission = admit(this.table, head.host, this.metrics.inFlight, this.maxInFlight);
    if ('refused' in admission && admission.refused === 'overloaded') return this.sendError(x, 'overloaded');
    this.metrics.inFlight++;
    x.counted = true;
    if ('refused' in admission) return this.sendError(x, admission.refused, admission.host);
    x.pool = admission.pool;
    if (!conn.secure && this.tlsServer && this.table.httpsOnly.size > 0 && this.table.httpsOnly.has(admission.pool.host) && head.forwardedProto !== 'https') {
      return this.redirectToHttps(x);
    }
    settleForwarded(head, conn.remoteAddress, x, conn.secure);
    if (head.cookie !== undefined) x.stickyId = stickyInstanceId(head.cookie);
    let url = head.url;
    if (url.charCodeAt(0) !== 47 /* / */) url = originForm(url);
    x.upstreamRequestHead = upstreamRequestHead(head, url, x);
    this.inProgress.add(x);
    this.attempt(x);
  }

  onUpgrade(conn: ClientConnection<ProxyExchange>, head: RequestHead, rest: Buffer | null): void {
    // A plain websocket to an https-only route is sent to wss:// as a plain request would be.
    if (!conn.secure && this.tlsServer && this.table.httpsOnly.size > 0 && head.forwardedProto !== 'https') {
      const pool = head.host ? this.table.lookup(head.host) : undefined;
      if (pool && this.table.httpsOnly.has(pool.host)) {
        // The connection is the upgrade's now (detached): the answer, then the end.
        const socket = conn.socket;
        socket.on('error', () => socket.destroy());
        socket.end(errorAnswer({ ...httpsRedirect(head, this.opts.tls!.port), date: httpDate() }));
        return;
      }
    }
    const { req, requestId } = upgradeRequest(head, conn.socket, conn.remoteAddress, conn.secure);
    this.websockets.handleUpgrade(req, conn.socket, rest ?? Buffer.alloc(0), requestId);
  }

  /** One try: the sticky instance first when there is one, else the balancing strategy's pick. */
  private attempt(x: ProxyExchange): void {
    const pool = x.pool!;
    // The sticky instance only on the first try: a retry goes where the strategy says.
    const endpoint = pickEndpoint(pool, this.balancing, this.maxConns, x.attempts === 0 ? x.stickyId : undefined, x.tried);
    if (endpoint === undefined) return this.sendError(x, x.attempts === 0 ? 'no_endpoints' : 'endpoint_failure');
    const address = endpoint.address;
    x.attempts++;
    x.endpoint = endpoint;
    x.lastEndpoint = endpoint;
    address.inFlight++;
    const conn = this.upstream.acquire(address);
    x.upstream = conn;
    const head = x.head;
    conn.begin(x, head.method === 'HEAD');
    x.tSent = performance.now();
    conn.write(x.upstreamRequestHead);
    if (!head.chunked && head.contentLength <= 0) {
      x.requestSent = true;
      return;
    }
    // Only the first try carries a body (retry-policy: a request with a body is never replayed);
    // it follows as the client sends it (onRequestBody).
    if (head.expectContinue && !x.continued) {
      x.continued = true;
      x.conn.send(x, CONTINUE);
    }
  }

  onRequestBody(x: ProxyExchange, chunk: Buffer): void {
    const conn = x.upstream;
    if (conn === null) return;
    let ok: boolean;
    if (x.head.chunked) {
      conn.socket.cork();
      conn.write(`${chunk.length.toString(16)}\r\n`);
      conn.write(chunk);
      ok = conn.write('\r\n');
      conn.socket.uncork();
    } else ok = conn.write(chunk);
    // A slow app: stop reading the client's body until the app has taken what is buffered.
    if (!ok) x.conn.pauseReading();
  }

  onRequestEnd(x: ProxyExchange): void {
    x.requestEnded = true;
    const conn = x.upstream;
    if (conn === null || x.requestSent) return;
    if (x.head.chunked) conn.write(LAST_CHUNK);
    x.requestSent = true;
  }

  onUpstreamHead(x: ProxyExchange, head: ResponseHead): void {
    x.tFirst = performance.now();
    x.responseHead = head;
    let text = `HTTP/1.1 ${head.status} ${head.reason || STATUS_CODES[head.status] || 'unknown'}\r\n${head.lines}`;
    if (x.stickyId !== undefined || head.setCookies !== undefined) text += stickyCookieLine(x, head.setCookies);
    if (!head.hasDate) text += `Date: ${httpDate()}\r\n`;
    const conn = x.conn;
    if (head.bodyLength < 0) {
      if (x.head.http11) {
        x.framing = ClientFraming.Chunked;
        text += head.transferCodings === undefined ? 'Transfer-Encoding: chunked\r\n' : `Transfer-Encoding: ${head.transferCodings}, chunked\r\n`;
      } else {
        x.framing = ClientFraming.UntilClose;
        conn.closeAfterResponse = true;
      }
    }
    if (conn.secure && this.table.httpsOnly.size > 0 && this.table.httpsOnly.has(x.pool!.host) && !/^strict-transport-security:/im.test(head.lines)) text += HSTS;
    text += conn.keepAlive ? this.keepAliveHeaders : 'Connection: close\r\n';
    x.status = head.status;
    x.pendingHead = `${text}\r\n`;
  }

  onUpstreamBody(x: ProxyExchange, chunk: Buffer): void {
    let ok: boolean;
    const conn = x.conn;
    const head = x.pendingHead;
    if (x.framing === ClientFraming.Chunked) {
      const socket = conn.socket;
      socket.cork();
      if (head !== null) {
        x.pendingHead = null;
        conn.send(x, head);
      }
      conn.send(x, `${chunk.length.toString(16)}\r\n`);
      conn.send(x, Buffer.from(chunk));
      ok = conn.send(x, '\r\n');
      socket.uncork();
    } else if (head !== null) {
      // The head and the first of the body in one write: one syscall for most answers.
      x.pendingHead = null;
      const out = Buffer.allocUnsafe(head.length + chunk.length);
      out.write(head, 0, 'latin1');
      chunk.copy(out, head.length);
      ok = conn.send(x, out);
    } else {
      // A copy: the chunk is in the read buffer all app connections share, and a write the kernel
      // cannot take at once keeps what it was given.
      ok = conn.send(x, Buffer.from(chunk));
    }
    if (!ok) {
      // A slow client: stop reading from the app until it has taken what is buffered (onDrain).
      x.upstream?.socket.pause();
    }
  }

  /** The app's data read so far is parsed: what is held goes out now rather than wait for more. */
  onUpstreamFlush(x: ProxyExchange): void {
    const head = x.pendingHead;
    if (head !== null) {
      x.pendingHead = null;
      x.conn.send(x, head);
    }
  }

  onUpstreamEnd(x: ProxyExchange): void {
    const conn = x.upstream;
    x.upstream = null;
    this.releaseEndpoint(x);
    if (conn !== null) {
      if (conn.reusableAfter(x.responseHead, x.requestSent)) this.upstream.release(conn);
      else conn.abort();
    }
    const head = x.pendingHead;
    if (x.framing === ClientFraming.Chunked) {
      x.pendingHead = null;
      x.conn.send(x, head === null ? LAST_CHUNK : head + LAST_CHUNK);
    } else if (head !== null) {
      x.pendingHead = null;
      x.conn.send(x, head);
    }
    this.finish(x);
    x.conn.responseDone(x);
  }

  onUpstreamFailure(x: ProxyExchange, err: NodeJS.ErrnoException, started: boolean): void {
    const conn = x.upstream;
    x.upstream = null;
    conn?.abort();
    // Failures of a request already answered, timed out or abandoned.
    if (x.endpoint === null || x.finished) return;
    const endpoint = x.endpoint;
    this.releaseEndpoint(x);
    const address = endpoint.address;
    const dial = isDialFailure(err);
    if (dial) address.failing = true;
    const head = x.head;
    const where = { requestId: x.requestId, host: head.host, endpoint: address.key, attempt: x.attempts, code: err.code };
    if (!started && !x.headersSent && x.attempts < maxAttempts && shouldRetry(err, head)) {
      this.log.warn(where, dial ? 'endpoint unreachable, marked failing; trying another' : 'endpoint failed, trying another');
      (x.tried ??= []).push(address);
      this.attempt(x);
      return;
    }
    this.log.warn({ ...where, err }, 'endpoint failed');
    this.sendError(x, 'endpoint_failure');
  }

  onClientGone(x: ProxyExchange): void {
    // Free the app's socket now, not when the app finishes.
    const conn = x.upstream;
    if (conn !== null) {
      x.upstream = null;
      conn.abort();
    }
    this.finish(x);
  }

  /** The exchange is over (answered, cut or abandoned): counted, logged, its endpoint released. */
  private finish(x: ProxyExchange): void {
    if (x.finished) return;
    x.finished = true;
    this.releaseEndpoint(x);
    if (x.counted) this.metrics.inFlight--;
    this.inProgress.delete(x);

    const totalMs = performance.now() - x.t0;
    const appMs = x.tFirst > 0 && x.tSent > 0 ? x.tFirst - x.tSent : 0;
    // 499 as nginx logs it: the client closed before any answer.
    const status = x.status === 0 ? 499 : x.status;
    const endpoint = x.lastEndpoint;
    this.metrics.record(status, x.bytesIn, x.bytesOut, totalMs, appMs, endpoint === null ? undefined : (endpoint.tags.app_name ?? endpoint.app));
    const accessLog = this.accessLog;
    if (accessLog !== undefined) {
      const head = x.head;
      accessLog.write({
        method: head.method,
        host: head.host,
        path: head.url,
        status,
        bytesIn: x.bytesIn,
        bytesOut: x.bytesOut,
        totalMs,
        appMs,
        endpoint: x.lastEndpoint?.address.key,
        requestId: x.requestId,
        attempts: x.attempts,
        error: x.routerError,
      });
    }
  }

  private releaseEndpoint(x: ProxyExchange): void {
    const endpoint = x.endpoint;
    if (endpoint !== null) {
      endpoint.address.inFlight--;
      x.endpoint = null;
    }
  }

  private sweep(): void {
    const now = performance.now();
    const deadline = now - this.opts.requestTimeoutMs;
    let x: ProxyExchange | null;
    while ((x = this.inProgress.first()) !== null && x.t0 <= deadline) this.expire(x);
    const idleMs = this.opts.idleTimeoutMs;
    // A client must send a whole head within this; longer than the idle timeout, as Node had it.
    const headMs = idleMs + 1000;
    for (let c = this.connections.first(); c !== null; ) {
      const next = c.nextLink;
      c.sweep(now, idleMs, headMs);
      c = next;
    }
  }

  private expire(x: ProxyExchange): void {
    this.inProgress.delete(x);
    x.timedOut = true;
    this.releaseEndpoint(x);
    x.upstream?.abort();
    x.upstream = null;
    this.log.warn({ requestId: x.requestId, host: x.head.host, endpoint: x.lastEndpoint?.address.key }, 'request timed out');
    this.sendError(x, 'timeout');
  }

  /** An answer of the router's own that is not an error (an ACME challenge's). */
  private sendOwn(x: ProxyExchange, status: number, body: string): void {
    const conn = x.conn;
    x.status = status;
    if (!conn.requestComplete) conn.closeAfterResponse = true;
    conn.send(
      x,
      errorAnswer({ status, body, requestId: x.requestId, date: httpDate(), connection: conn.keepAlive && !conn.closeAfterResponse ? this.keepAliveHeaders : undefined, headOnly: x.head.method === 'HEAD' }),
    );
    this.finish(x);
    conn.responseDone(x);
  }

  /** A plain request to an https-only route: the same URL over HTTPS (301, or 308 to keep a method other than GET and HEAD). */
  private redirectToHttps(x: ProxyExchange): void {
    const conn = x.conn;
    const answer = httpsRedirect(x.head, this.opts.tls!.port);
    x.status = answer.status;
    // The body of a request that is redirected is not read on: the client sends it again to the new URL.
    if (!conn.requestComplete) conn.closeAfterResponse = true;
    conn.send(x, errorAnswer({ ...answer, requestId: x.requestId, date: httpDate(), connection: conn.keepAlive && !conn.closeAfterResponse ? this.keepAliveHeaders : undefined }));
    this.finish(x);
    conn.responseDone(x);
  }

  /**
   * The router's own answer. Once part of the app's answer is out, cutting the connection is the
   * only honest signal left.
   */
  private sendError(x: ProxyExchange, code: RouterError, host?: string): void {
    if (x.finished) return;
    x.routerError = code;
    this.metrics.errors[code]++;
    const conn = x.conn;
    if (x.headersSent) {
      this.finish(x);
      conn.close();
      return;
    }
    x.pendingHead = null;
    const head = x.head;
    // A client waiting for a 100 may send its next request instead of the body (RFC 9110 §10.1.1):
    // nothing would tell the one from the other, so the connection ends with this answer.
    if (head.expectContinue && !x.continued && !conn.requestComplete && (head.chunked || head.contentLength > 0)) conn.closeAfterResponse = true;
    const status = errorStatus[code];
    x.status = status;
    conn.send(
      x,
      errorAnswer({
        status,
        body: errorBody(code, host),
        code,
        requestId: x.requestId,
        date: httpDate(),
        connection: conn.keepAlive ? this.keepAliveHeaders : undefined,
        // The answer to HEAD has none: a client reads none, and would take it for its next answer.
        headOnly: head.method === 'HEAD',
      }),
    );
    this.finish(x);
    conn.responseDone(x);
  }
}

/**
 * The app's `JSESSIONID` gets a `__VCAP_ID__` beside it naming the instance; so does a request that
 * asked for an instance no longer there and went to another (gorouter does both). A header line, or ''.
 */
function stickyCookieLine(x: ProxyExchange, setCookies: string[] | undefined): string {
  const instanceId = x.lastEndpoint?.privateInstanceId;
  if (instanceId === undefined) return '';
  const session = sessionSetCookie(setCookies);
  if (session === undefined && (x.stickyId === undefined || x.stickyId === instanceId)) return '';
  return `Set-Cookie: ${vcapIdCookie(instanceId, session)}\r\n`;
}

let dateSecond = 0;
let dateValue = '';

/** The Date header's value, made once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
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

function listenOn(server: net.Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The redirect of a plain request to an https-only route to the same URL on the TLS port. */
function httpsRedirect(head: RequestHead, tlsPort: number): { status: number; body: string; location: string; headOnly: boolean } {
  const host = (head.host ?? '').toLowerCase().replace(/:\d*$/, '');
  const location = `https://${host}${tlsPort === 443 ? '' : `:${tlsPort}`}${head.url.charCodeAt(0) === 47 ? head.url : originForm(head.url)}`;
  const status = head.method === 'GET' || head.method === 'HEAD' ? 301 : 308;
  return { status, location, body: `${status} ${STATUS_CODES[status]}: ${host} is served over HTTPS only: ${location}\n`, headOnly: head.method === 'HEAD' };
}

