import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Bus, channels, createLogger, loadSettings, type Settings } from '@nap/common';
import { pino, type Logger } from 'pino';
import { startRouter, type Router, type RouterOptions } from '../../src/index.js';
import { freePort, startNatsServer, waitFor, type NatsServer } from './processes.js';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Backend {
  name: string;
  port: number;
  server: http.Server;
  requests: http.IncomingMessage[];
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, backend: Backend) => void;

/** Answers its name after `delayMs`. */
export const answerName =
  (delayMs = 0): Handler =>
  (_req, res, b) => {
    if (delayMs === 0) res.end(b.name);
    else setTimeout(() => res.end(b.name), delayMs).unref();
  };

/** Access lines the router wrote, parsed. */
export class CapturedLog {
  readonly lines: Record<string, unknown>[] = [];
  readonly logger: Logger;
  constructor() {
    const sink = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(JSON.parse(line));
        done();
      },
    });
    this.logger = pino({ level: 'info' }, sink);
  }
}

/** A nats-server, a router in this process, a test bus and backends, all on loopback. */
function registration(uri: string | string[], b: { port: number; name?: string; instanceId?: string }) {
  const name = b.name ?? 'dead';
  return { host: '127.0.0.1', port: b.port, uris: Array.isArray(uri) ? uri : [uri], app: name, private_instance_id: b.instanceId ?? `${name}-0` };
}

export class Harness {
  nats!: NatsServer;
  router!: Router;
  bus!: Bus;
  settings!: Settings;
  routerPort = 0;
  statusPort = 0;
  readonly backends: Backend[] = [];
  readonly log = createLogger('router-test', 'silent');

  static async start(env: Record<string, string> = {}, options: RouterOptions = {}): Promise<Harness> {
    const h = new Harness();
    h.nats = await startNatsServer();
    h.routerPort = await freePort();
    h.statusPort = await freePort();
    h.settings = loadSettings({
      ...h.nats.env,
      NAP_ROUTER_PORT: String(h.routerPort),
      NAP_ROUTER_STATUS_PORT: String(h.statusPort),
      NAP_LOG_LEVEL: 'silent',
      ...env,
    });
    h.bus = await Bus.connect(h.settings, { name: 'router-test', log: h.log });
    // Claims are read only where the test gave an etcd: the machine's own etcd is never the test's.
    const claims = env.NAP_ETCD_URLS ? {} : false;
    h.router = await startRouter(h.settings, h.log, { listenHost: '127.0.0.1', accessLog: false, claims, ...options });
    return h;
  }

  async stop(): Promise<void> {
    await this.router?.close();
    await this.bus?.close();
    await Promise.all(this.backends.map((b) => b.close()));
    await this.nats?.stop();
  }

  /** An app on a free port; `record: false` keeps no reference to its requests (for leak tests). */
  async backend(name: string, handler: Handler = answerName(), opts: { record?: boolean } = {}): Promise<Backend> {
    const server = http.createServer();
    const backend: Backend = {
      name,
      port: 0,
      server,
      requests: [],
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
    server.on('request', (req, res) => {
      if (opts.record !== false) backend.requests.push(req);
      handler(req, res, backend);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    backend.port = (server.address() as AddressInfo).port;
    this.backends.push(backend);
    return backend;
  }

  register(uri: string | string[], b: { port: number; name?: string; instanceId?: string }): void {
    this.bus.publish(channels.routerRegister, registration(uri, b));
  }

  /** `lost`: as the health manager says it of an instance whose DEA is gone. */
  unregister(uri: string | string[], b: { port: number; name?: string; instanceId?: string }, opts: { lost?: boolean } = {}): void {
    this.bus.publish(channels.routerUnregister, { ...registration(uri, b), ...(opts.lost ? { lost: true } : {}) });
  }

  poolSize(host: string): number {
    return this.router.table.lookup(host)?.size ?? 0;
  }

  /** Registers and waits until the router's table has it. */
  async route(uri: string, ...backends: { port: number; name?: string; instanceId?: string }[]): Promise<void> {
    for (const b of backends) this.register(uri, b);
    const ports = backends.map((b) => b.port);
    await waitFor(`${uri} registered`, () => {
      const pool = this.router.table.lookup(uri);
      return pool !== undefined && ports.every((p) => pool.endpoints.some((e) => e.port === p));
    });
  }

  request(host: string, opts: { method?: string; path?: string; body?: string; headers?: http.OutgoingHttpHeaders; port?: number } = {}): Promise<Reply> {
    return send(opts.port ?? this.routerPort, host, opts);
  }

  status(path: string, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
    return send(this.statusPort, 'localhost', { path, headers });
  }
}

export function send(
  port: number,
  host: string,
  opts: { method?: string; path?: string; body?: string; headers?: http.OutgoingHttpHeaders } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers: { host, ...opts.headers }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // A test whose request is never answered fails here rather than hanging the whole suite.
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from port ${port} for ${host}${opts.path ?? '/'} in 30 s`)));
    req.end(opts.body);
  });
}
