import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listen } from '../http-server.js';
import type { MetricsSnapshot } from './metrics.js';
import { prometheusText } from './prometheus.js';

export interface StatusOptions {
  port: number;
  /** Loopback by default: the status port is for operators and `nap up`, not for the world. */
  listenHost?: string;
  /** Basic auth for /routes. */
  user: string;
  /** Without one, /routes answers 401 to everyone: safe until someone chooses a password. */
  password?: string;
  /** The /varz document (JSON-able). */
  varz: () => object | Promise<object>;
  /** The counters behind /metrics (Prometheus' text format): summed over a cluster's workers. */
  metrics?: () => MetricsSnapshot | Promise<MetricsSnapshot>;
  /** The /routes document, already as JSON text (a cluster primary gets it from a worker as text). */
  routes: () => string | Promise<string>;
}

/**
 * Health and introspection, never proxied: `/healthz` and `/varz` are open, `/routes` (which shows
 * every app's internal address) needs the basic-auth user and password from settings.
 */
export class StatusServer {
  private readonly server: http.Server;

  constructor(private readonly opts: StatusOptions) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch(() => send(res, 500, 'text/plain', 'internal error\n'));
    });
  }

  listen(): Promise<void> {
    return listen(this.server, this.opts.port, this.opts.listenHost ?? '127.0.0.1');
  }

  close(): Promise<void> {
    return closeServer(this.server, 500);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(res, 200, 'text/plain', 'ok');
    if (path === '/varz') return send(res, 200, 'application/json', JSON.stringify(await this.opts.varz()));
    if (path === '/metrics' && this.opts.metrics) {
      const text = await prometheusText(await this.opts.metrics());
      res.writeHead(200, { 'content-type': text.contentType, 'content-length': Buffer.byteLength(text.body) });
      return void res.end(text.body);
    }
    if (path === '/routes') {
      if (!this.authorized(req.headers.authorization)) {
        res.setHeader('www-authenticate', 'Basic realm="nap-router"');
        return send(res, 401, 'text/plain', 'unauthorized\n');
      }
      return send(res, 200, 'application/json', await this.opts.routes());
    }
    send(res, 404, 'text/plain', 'not found\n');
  }

  private authorized(header: string | undefined): boolean {
    const { user, password } = this.opts;
    if (password === undefined || header === undefined || !/^basic /i.test(header)) return false;
    const given = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    // Compared as digests so the comparison takes the same time whatever the lengths.
    const digest = (s: string) => createHash('sha256').update(s).digest();
    return timingSafeEqual(digest(given), digest(`${user}:${password}`));
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
