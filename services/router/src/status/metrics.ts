/**
 * The router's counters, kept as plain numbers so that recording a request costs a few additions.
 * Each process keeps its own; a cluster primary adds up the workers' snapshots.
 */

/** Upper bounds (ms) of the latency buckets: fine below a millisecond, where the router's own time lives. */
export const latencyBoundsMs: readonly number[] = [
  0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000,
];

export interface HistogramSnapshot {
  /** counts[i] is the number of samples ≤ latencyBoundsMs[i] (and above the previous bound); the last one is the overflow. */
  counts: number[];
  count: number;
  sumMs: number;
}

export class Histogram {
  readonly counts: number[] = new Array<number>(latencyBoundsMs.length + 1).fill(0);
  count = 0;
  sumMs = 0;

  observe(ms: number): void {
    const bounds = latencyBoundsMs;
    let i = 0;
    while (i < bounds.length && ms > bounds[i]) i++;
    this.counts[i]++;
    this.count++;
    this.sumMs += ms;
  }

  snapshot(): HistogramSnapshot {
    return { counts: [...this.counts], count: this.count, sumMs: this.sumMs };
  }
}

/** Why the router answered by itself (the X-Nap-Router-Error header). */
export const routerErrors = ['empty_host', 'unknown_route', 'no_endpoints', 'endpoint_failure', 'timeout', 'overloaded'] as const;
export type RouterError = (typeof routerErrors)[number];

/** One app's traffic through this router (by the app name its DEA announced with the route). */
export interface AppSnapshot {
  requests: number;
  responses: MetricsSnapshot['responses'];
  bytes_in: number;
  bytes_out: number;
  latency: HistogramSnapshot;
}

/** Apps counted apart at most: past it, an app's traffic counts under OTHER_APPS (memory stays bounded). */
export const MAX_APPS_COUNTED = 10_000;
export const OTHER_APPS = '_other';

class AppMetrics {
  requests = 0;
  readonly byClass = [0, 0, 0, 0, 0, 0];
  bytesIn = 0;
  bytesOut = 0;
  readonly latency = new Histogram();

  snapshot(): AppSnapshot {
    const c = this.byClass;
    return {
      requests: this.requests,
      responses: { '1xx': c[0], '2xx': c[1], '3xx': c[2], '4xx': c[3], '5xx': c[4], other: c[5] },
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
      latency: this.latency.snapshot(),
    };
  }
}

export interface MetricsSnapshot {
  requests: number;
  responses: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number; other: number };
  router_errors: Record<RouterError, number>;
  bytes_in: number;
  bytes_out: number;
  /** Requests being handled right now. */
  in_flight: number;
  websockets: { open: number; total: number };
  /** total: first byte in to last byte out; app: request sent to the app until its response headers; router: total minus app. */
  latency: { total: HistogramSnapshot; app: HistogramSnapshot; router: HistogramSnapshot };
  /** By app name; requests no app answered (unknown host, no endpoints) are in the totals only. */
  apps: Record<string, AppSnapshot>;
}

export class RouterMetrics {
  requests = 0;
  readonly byClass = [0, 0, 0, 0, 0, 0];
  readonly errors: Record<RouterError, number> = { empty_host: 0, unknown_route: 0, no_endpoints: 0, endpoint_failure: 0, timeout: 0, overloaded: 0 };
  bytesIn = 0;
  bytesOut = 0;
  inFlight = 0;
  websocketsOpen = 0;
  websocketsTotal = 0;
  readonly total = new Histogram();
  readonly app = new Histogram();
  readonly router = new Histogram();
  private readonly apps = new Map<string, AppMetrics>();

  private appMetrics(app: string): AppMetrics {
    let m = this.apps.get(app);
    if (m === undefined) {
      m = this.apps.size < MAX_APPS_COUNTED ? new AppMetrics() : (this.apps.get(OTHER_APPS) ?? new AppMetrics());
      this.apps.set(this.apps.size < MAX_APPS_COUNTED ? app : OTHER_APPS, m);
    }
    return m;
  }

  /** One finished request; appMs is 0 when no app answered; app is the app of the endpoint tried last. */
  record(status: number, bytesIn: number, bytesOut: number, totalMs: number, appMs: number, app?: string): void {
    this.requests++;
    const cls = (status / 100) | 0;
    const slot = cls >= 1 && cls <= 5 ? cls - 1 : 5;
    this.byClass[slot]++;
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    this.total.observe(totalMs);
    if (appMs > 0) this.app.observe(appMs);
    this.router.observe(totalMs - appMs);
    if (app !== undefined) {
      const m = this.appMetrics(app);
      m.requests++;
      m.byClass[slot]++;
      m.bytesIn += bytesIn;
      m.bytesOut += bytesOut;
      m.latency.observe(totalMs);
    }
  }

  /** A websocket that ended: counted as a request, but not in the latency histograms (it lasts minutes). */
  recordWebsocket(status: number, bytesIn: number, bytesOut: number): void {
    this.requests++;
    const cls = (status / 100) | 0;
    this.byClass[cls >= 1 && cls <= 5 ? cls - 1 : 5]++;
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
  }

  snapshot(): MetricsSnapshot {
    const c = this.byClass;
    return {
      requests: this.requests,
      responses: { '1xx': c[0], '2xx': c[1], '3xx': c[2], '4xx': c[3], '5xx': c[4], other: c[5] },
      router_errors: { ...this.errors },
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
      in_flight: this.inFlight,
      websockets: { open: this.websocketsOpen, total: this.websocketsTotal },
      latency: { total: this.total.snapshot(), app: this.app.snapshot(), router: this.router.snapshot() },
      apps: Object.fromEntries([...this.apps].map(([name, m]) => [name, m.snapshot()])),
    };
  }
}

/** Adds snapshots up (the cluster primary does this over its workers). */
export function sumSnapshots(list: readonly MetricsSnapshot[]): MetricsSnapshot {
  const out = new RouterMetrics().snapshot();
  for (const s of list) {
    out.requests += s.requests;
    for (const k of Object.keys(out.responses) as (keyof MetricsSnapshot['responses'])[]) out.responses[k] += s.responses[k];
    for (const k of routerErrors) out.router_errors[k] += s.router_errors[k] ?? 0;
    out.bytes_in += s.bytes_in;
    out.bytes_out += s.bytes_out;
    out.in_flight += s.in_flight;
    out.websockets.open += s.websockets.open;
    out.websockets.total += s.websockets.total;
    for (const k of ['total', 'app', 'router'] as const) {
      const into = out.latency[k];
      const from = s.latency[k];
      for (let i = 0; i < into.counts.length; i++) into.counts[i] += from.counts[i] ?? 0;
      into.count += from.count;
      into.sumMs += from.sumMs;
    }
    for (const [name, a] of Object.entries(s.apps ?? {})) {
      const into = (out.apps[name] ??= new AppMetrics().snapshot());
      into.requests += a.requests;
      for (const k of Object.keys(into.responses) as (keyof AppSnapshot['responses'])[]) into.responses[k] += a.responses[k];
      into.bytes_in += a.bytes_in;
      into.bytes_out += a.bytes_out;
      for (let i = 0; i < into.latency.counts.length; i++) into.latency.counts[i] += a.latency.counts[i] ?? 0;
      into.latency.count += a.latency.count;
      into.latency.sumMs += a.latency.sumMs;
    }
  }
  return out;
}

/** The bucket bound under which fraction q of the samples fall (an upper estimate), or null without samples. */
export function quantileMs(h: HistogramSnapshot, q: number): number | null {
  if (h.count === 0) return null;
  const rank = q * h.count;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i];
    if (seen >= rank) return i < latencyBoundsMs.length ? latencyBoundsMs[i] : Infinity;
  }
  return Infinity;
}

/** A histogram as /varz shows it: bounds with their counts, mean and a few quantiles. */
export function describeHistogram(h: HistogramSnapshot): object {
  const q = (x: number) => {
    const v = quantileMs(h, x);
    return v === Infinity ? `>${latencyBoundsMs[latencyBoundsMs.length - 1]}` : v;
  };
  return {
    count: h.count,
    mean_ms: h.count === 0 ? null : Math.round((h.sumMs / h.count) * 1000) / 1000,
    p50_ms: q(0.5),
    p90_ms: q(0.9),
    p99_ms: q(0.99),
    buckets: h.counts.map((count, i) => ({ le_ms: i < latencyBoundsMs.length ? latencyBoundsMs[i] : '+Inf', count })),
  };
}
