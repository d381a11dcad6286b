import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from '@nap/common';
import httpProxy from 'http-proxy';
import { closeServer, listen } from '../http-server.js';
import type { BalancingStrategy } from '../balancing/strategy.js';
import { normalizeHost } from '../table/endpoint.js';
import type { RouteTable } from '../table/route-table.js';
import { addForwardedHeaders } from './forwarded-headers.js';
import { isReplayable, maxAttempts, shouldRetry } from './retry-policy.js';

export interface ProxyOptions {
  port: number;
  /** Interface to listen on; all of them by default, since this is the platform's front door. */
  listenHost?: string;
  /** Connections kept per app instance; beyond it requests queue in the agent. */
  maxSocketsPerEndpoint?: number;
  /**
   * Idle keep-alive sockets to apps are closed after this long. Shorter than Node's default
   * server keepAliveTimeout (5 s) so the router never reuses a socket the app is closing.
   */
  idleSocketTimeoutMs?: number;
}

/** The request path: Host header → pool → endpoint, with retries on connection failures. */
export class RouterProxy {
  private readonly server: http.Server;
  private readonly agent: http.Agent;
  private readonly proxy: httpProxy;

  constructor(
    private readonly table: RouteTable,
    private readonly balancing: BalancingStrategy,
    private readonly log: Logger,
    private readonly opts: ProxyOptions,
  ) {
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: opts.maxSocketsPerEndpoint ?? 256,
      maxFreeSockets: 64,
      timeout: opts.idleSocketTimeoutMs ?? 4000,
    });
    this.proxy = httpProxy.createProxyServer({ agent: this.agent, xfwd: false, changeOrigin: false, ws: false });
    // Every web() call passes its own callback; this catches anything http-proxy emits regardless.
    this.proxy.on('error', (err) => this.log.warn({ err }, 'proxy error'));
    this.proxy.on('proxyReq', (proxyReq, _req, res) => {
      // Node does not abort the app's request when a client that already sent its whole request
      // goes away; without this the agent socket stays busy until the app finishes.
      res.once('close', () => {
        if (!res.writableFinished) proxyReq.destroy();
      });
    });
    this.proxy.on('proxyRes', (proxyRes, _req, res) => {
      // The app dropped the connection mid-response: pass the truncation on instead of hanging the client.
      proxyRes.once('close', () => {
        if (!proxyRes.complete) res.destroy();
      });
    });
    // Uploads of big app packages may take longer than Node's 5 min requestTimeout; slow
    // clients are still bounded by headersTimeout.
    this.server = http.createServer({ requestTimeout: 0 }, (req, res) => this.handle(req, res));
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  listen(): Promise<void> {
    return listen(this.server, this.opts.port, this.opts.listenHost);
  }

  async close(): Promise<void> {
    await closeServer(this.server);
    this.agent.destroy();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const host = req.headers.host;
    if (!host) {
      sendError(res, 400, 'empty_host', '400 Bad Request: Request had empty Host header.\n');
      return;
    }
    const pool = this.table.lookup(host);
    if (!pool) {
      sendError(res, 404, 'unknown_route', `404 Not Found: Requested route ('${normalizeHost(host)}') does not exist.\n`);
      return;
    }
    const requestId = addForwardedHeaders(req);
    const endpoints = this.balancing.iterator(pool);
    const replayable = isReplayable(req);
    const attempts = replayable ? maxAttempts : 1;
    let attempt = 0;

    const tryNext = (): void => {
      const endpoint = attempt < attempts ? endpoints.next() : undefined;
      if (!endpoint) {
        sendError(res, 502, 'endpoint_failure', '502 Bad Gateway: Registered endpoint failed to handle the request.\n');
        return;
      }
      const current = ++attempt;
      this.proxy.web(
        req,
        res,
        {
          target: { protocol: 'http:', host: endpoint.host, port: endpoint.port },
          // A body stream can be piped once; a replayable request gets a fresh empty one per attempt.
          buffer: replayable ? Readable.from([]) : undefined,
        },
        (err: NodeJS.ErrnoException) => {
          // Listeners of earlier attempts stay on `req`; only the latest attempt decides.
          if (current !== attempt || res.destroyed) return;
          const where = { requestId, host, endpoint: `${endpoint.host}:${endpoint.port}`, attempt: current, code: err.code };
          if (!res.headersSent && shouldRetry(err, req)) {
            this.log.warn(where, 'endpoint failed, trying another');
            tryNext();
            return;
          }
          this.log.warn({ ...where, err }, 'endpoint failed');
          sendError(res, 502, 'endpoint_failure', '502 Bad Gateway: Registered endpoint failed to handle the request.\n');
        },
      );
    };
    tryNext();
  }
}

function sendError(res: ServerResponse, status: number, code: string, body: string): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) {
    // Too late for a status line: cutting the connection is the only honest signal left.
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-nap-router-error': code,
  });
  res.end(body);
}
