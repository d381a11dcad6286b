import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { RouteTable } from '../table/route-table.js';
import { closeServer, listen } from '../http-server.js';

export interface StatusOptions {
  port: number;
  /**
   * Loopback by default: /routes shows every app's internal address, and the status port has
   * no basic auth yet.
   */
  listenHost?: string;
}

/** Health and introspection for operators and `nap up`; never proxied. */
export class StatusServer {
  private readonly server: http.Server;

  constructor(
    private readonly table: RouteTable,
    private readonly opts: StatusOptions,
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  listen(): Promise<void> {
    return listen(this.server, this.opts.port, this.opts.listenHost ?? '127.0.0.1');
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(res, 200, 'text/plain', 'ok');
    if (path === '/routes') return send(res, 200, 'application/json', JSON.stringify(this.table.snapshot()));
    send(res, 404, 'text/plain', 'not found\n');
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
