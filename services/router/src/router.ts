import { randomUUID } from 'node:crypto';
import { Bus, connectEtcd, type Logger, type Settings, ticketKeys } from '@nap/common';
import { AccessLog } from './accesslog/access-log.js';
import { RoundRobin } from './balancing/round-robin.js';
import type { BalancingStrategy } from './balancing/strategy.js';
import { ClaimWatcher, type ClaimWatcherOptions } from './claims/claim-watcher.js';
import { DEFAULT_START_SETTLE, RouteSubscriber, type RouteSubscriberOptions, type StartSettle } from './bus/route-subscriber.js';
import { RouterProxy } from './proxy/proxy.js';
import { RouterMetrics } from './status/metrics.js';
import { StatusServer } from './status/status-server.js';
import { APP_STATS_EVERY_MS, publishAppStats } from './status/app-stats.js';
import { varzDocument, type ProcessReport } from './status/varz.js';
import { RouteTable } from './table/route-table.js';
import { CertificateStore } from './tls/certificate-store.js';

/** Limits in milliseconds and counts; each defaults to its setting (docs/contract.md §8). */
export interface RouterLimits {
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnsPerInstance: number;
  maxInFlight: number;
  /** Idle keep-alive sockets to apps close after this (4 s: below Node's 5 s server keep-alive). */
  upstreamIdleMs: number;
  connectTimeoutMs: number;
}

export interface RouterOptions {
  /** Defaults to a random uuid; announced in router.start. */
  id?: string;
  balancing?: BalancingStrategy;
  /** Interface for the proxy port (default: all) and the status port (default: loopback). */
  listenHost?: string;
  statusListenHost?: string;
  /** Register interval, prune threshold and interval, reconnect grace: injectable so tests are fast. */
  registration?: Omit<RouteSubscriberOptions, 'id'>;
  /** False: no status port in this process (a cluster worker; the primary serves it). */
  statusServer?: boolean;
  /** Where access lines go, at info; defaults to the router's logger. False: none. */
  accessLog?: Logger | false;
  limits?: Partial<RouterLimits>;
  /**
   * Watching the route claims in etcd (NAP_ETCD_URLS) so a claimed host with no instance is 503,
   * not someone else's wildcard. False: none (tests of the proxy alone, which have no etcd).
   */
  claims?: ClaimWatcherOptions | false;
  /** How long a start waits for the DEAs' registrations before it takes requests; tests of the proxy alone pass zeros. */
  startSettle?: StartSettle;
}

/** How long a start waits for the first read of the claims before serving without them (etcd down). */
const FIRST_CLAIMS_WAIT_MS = 2000;

export interface Router {
  id: string;
  table: RouteTable;
  metrics: RouterMetrics;
  /** This process's counters and state, as a cluster worker reports them to the primary. */
  report(): ProcessReport;
  /** The route table as /routes shows it. */
  routesJson(): string;
  /** Stops listening, leaves the bus and closes connections; safe to call twice. */
  close(): Promise<void>;
}

export function limitsFrom(settings: Settings, overrides: Partial<RouterLimits> = {}): RouterLimits {
  return {
    requestTimeoutMs: settings.routerRequestTimeoutS * 1000,
    idleTimeoutMs: settings.routerIdleTimeoutS * 1000,
    maxConnsPerInstance: settings.routerMaxConnsPerInstance,
    maxInFlight: settings.routerMaxInFlight,
    upstreamIdleMs: 4000,
    connectTimeoutMs: settings.routerConnectTimeoutMs,
    ...overrides,
  };
}

/** A whole router in this process: what main.ts runs (in each worker), and what tests and benches embed. */
export async function startRouter(settings: Settings, log: Logger, options: RouterOptions = {}): Promise<Router> {
  const id = options.id ?? randomUUID();
  const startedAt = Date.now();
  const limits = limitsFrom(settings, options.limits);
  const table = new RouteTable();
  const metrics = new RouterMetrics();
  const bus = await Bus.connect(settings, { name: `router-${id}`, log });
  const subscriber = new RouteSubscriber(bus, table, log, { ...options.registration, id, onLost: (address) => proxy.abandon(address) });
  const etcd = options.claims === false ? undefined : connectEtcd(settings);
  const claims = etcd && new ClaimWatcher(etcd, table, log, options.claims || {});
  // TLS needs the certificates from etcd and NAP_CERT_KEY to open their keys (nap up sets it).
  const certKey = settings.certKey;
  const certificates = etcd && certKey ? new CertificateStore(etcd, certKey, log, options.claims || {}) : undefined;
  if (etcd && !certKey) log.warn('NAP_CERT_KEY is not set: this router serves no HTTPS');
  const accessLog = options.accessLog === false ? undefined : new AccessLog(options.accessLog ?? log);
  const proxy = new RouterProxy(table, options.balancing ?? new RoundRobin(), log, metrics, {
    port: settings.routerPort,
    listenHost: options.listenHost,
    ...limits,
    accessLog,
    tls: certificates && certKey ? { port: settings.routerTlsPort, certificates, ticketKeys: () => ticketKeys(certKey) } : undefined,
  });

  const report = (): ProcessReport => {
    let failing = 0;
    for (const a of table.allAddresses()) if (a.failing) failing++;
    return {
      pid: process.pid,
      metrics: metrics.snapshot(),
      routes: table.routeCount,
      hosts: table.hostCount,
      endpoints: table.endpointCount,
      endpointsFailing: failing,
      natsConnected: subscriber.natsConnected,
      upstream: proxy.upstreamSockets(),
    };
  };
  const routesJson = () => JSON.stringify(table.snapshot());
  // Each process tells the controller its apps' counters (GET /v1/apps/:name/stats takes differences).
  const appStats = setInterval(() => publishAppStats(bus, `${id}/${process.pid}`, startedAt, metrics.snapshot()), APP_STATS_EVERY_MS);
  appStats.unref();
  const status =
    options.statusServer === false
      ? undefined
      : new StatusServer({
          port: settings.routerStatusPort,
          listenHost: options.statusListenHost,
          user: settings.routerStatusUser,
          password: settings.routerStatusPassword,
          varz: () => varzDocument(id, startedAt, [report()]),
          metrics: () => report().metrics,
          routes: routesJson,
        });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      subscriber.stop();
      clearInterval(appStats);
      await Promise.all([claims?.stop(), certificates?.stop()]);
      await Promise.allSettled([proxy.close(), status?.close()]);
      await bus.close();
      etcd?.close();
    })());

  try {
    // Claims before the first request where etcd answers; a router whose etcd is down serves anyway.
    if (claims) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([claims.start(), certificates?.start()]), new Promise<void>((resolve) => (timer = setTimeout(resolve, FIRST_CLAIMS_WAIT_MS)))]);
      clearTimeout(timer);
    }
    // Announce, then listen once the DEAs' registrations have come: a router (or a cluster worker,
    // which takes no connection before it listens) restarted under load never answers 404 or 503
    // for an app that runs.
    await status?.listen();
    await subscriber.start();
    await subscriber.settled(options.startSettle ?? DEFAULT_START_SETTLE);
    await proxy.listen();
  } catch (err) {
    await close();
    throw err;
  }
  log.info({ id, port: settings.routerPort, tlsPort: certificates ? settings.routerTlsPort : undefined, statusPort: status ? settings.routerStatusPort : undefined }, 'router listening');
  return { id, table, metrics, report, routesJson, close };
}
