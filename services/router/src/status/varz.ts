import { describeHistogram, sumSnapshots, type MetricsSnapshot } from './metrics.js';

/** What one router process reports about itself: its counters and the state of its table and bus. */
export interface ProcessReport {
  pid: number;
  metrics: MetricsSnapshot;
  routes: number;
  hosts: number;
  endpoints: number;
  endpointsFailing: number;
  natsConnected: boolean;
  upstream: { active: number; idle: number; websockets: number };
}

/**
 * The /varz document over one process or a cluster's workers: counters summed, the table's sizes
 * taken from the first worker (every worker holds the whole table), NATS connected only if every
 * worker is.
 */
export function varzDocument(id: string, startedAt: number, reports: readonly ProcessReport[], retired?: MetricsSnapshot): object {
  const m = sumSnapshots([...reports.map((r) => r.metrics), ...(retired ? [retired] : [])]);
  const first = reports[0];
  return {
    type: 'router',
    id,
    started_at: new Date(startedAt).toISOString(),
    uptime_s: Math.round((Date.now() - startedAt) / 100) / 10,
    workers: reports.length,
    requests: m.requests,
    responses: m.responses,
    router_errors: m.router_errors,
    bytes_in: m.bytes_in,
    bytes_out: m.bytes_out,
    in_flight: m.in_flight,
    websockets: m.websockets,
    latency: {
      total: describeHistogram(m.latency.total),
      app: describeHistogram(m.latency.app),
      router: describeHistogram(m.latency.router),
    },
    routes: first?.routes ?? 0,
    hosts: first?.hosts ?? 0,
    endpoints: first?.endpoints ?? 0,
    endpoints_failing: first?.endpointsFailing ?? 0,
    nats: reports.length > 0 && reports.every((r) => r.natsConnected) ? 'connected' : 'disconnected',
    upstream_connections: reports.reduce(
      (sum, r) => ({ active: sum.active + r.upstream.active, idle: sum.idle + r.upstream.idle, websockets: sum.websockets + r.upstream.websockets }),
      { active: 0, idle: 0, websockets: 0 },
    ),
    processes: reports.map((r) => ({ pid: r.pid, nats: r.natsConnected ? 'connected' : 'disconnected', routes: r.routes, requests: r.metrics.requests })),
  };
}
