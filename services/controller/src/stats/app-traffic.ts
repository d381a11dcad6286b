import type { msg } from '@nap/common';

/** The window GET /v1/apps/:name/stats reports on. */
export const WINDOW_MS = 60_000;
/** Reports older than this are forgotten; a router silent this long is gone. */
const KEEP_MS = 120_000;
const SILENT_MS = 30_000;

export interface AppTrafficView {
  window_s: number;
  requests: number;
  responses: Record<string, number>;
  bytes_in: number;
  bytes_out: number;
  latency_ms: { p50: number | null; p99: number | null };
  routers: number;
}

type AppCounters = msg.RouterAppStats['apps'][string];
const ZERO: AppCounters = { requests: 0, responses: {}, bytes_in: 0, bytes_out: 0, latency_counts: [] };

/**
 * What the routers carried for each app over the last minute (issue 16's stats), from the
 * counters each router process reports every 10 s (router.app_stats): the difference between a
 * router's newest report and the one a minute before it, summed over routers. Held in memory only:
 * a controller that starts knows the last minute after a minute.
 */
export class AppTraffic {
  private readonly byRouter = new Map<string, msg.RouterAppStats[]>();

  report(r: msg.RouterAppStats, now = Date.now()): void {
    const list = this.byRouter.get(r.router) ?? [];
    // A router that restarted counts from zero again: its older reports say nothing any more.
    const kept = list.filter((x) => x.started_at === r.started_at && x.at < r.at && now - x.at <= KEEP_MS);
    this.byRouter.set(r.router, [...kept, r]);
  }

  ofApp(name: string, now = Date.now()): AppTrafficView {
    const out: AppTrafficView = { window_s: 0, requests: 0, responses: {}, bytes_in: 0, bytes_out: 0, latency_ms: { p50: null, p99: null }, routers: 0 };
    const latency: number[] = [];
    let bounds: number[] = [];
    for (const [id, list] of this.byRouter) {
      const latest = list.at(-1);
      if (!latest || now - latest.at > SILENT_MS) {
        if (latest && now - latest.at > KEEP_MS) this.byRouter.delete(id);
        continue;
      }
      out.routers++;
      const from = latest.at - WINDOW_MS;
      // The oldest report within the minute (reports come every 10 s); without one, the last before it;
      // without that, since the router started, when that was within the minute.
      const within = list.find((x) => x.at >= from && x !== latest);
      const before = [...list].reverse().find((x) => x.at < from);
      const start = within ?? before ?? (latest.started_at >= from ? null : list[0]);
      const now_ = latest.apps[name] ?? ZERO;
      const then = start === null ? ZERO : (start.apps[name] ?? ZERO);
      out.window_s = Math.max(out.window_s, Math.round((latest.at - (start?.at ?? latest.started_at)) / 1000));
      out.requests += now_.requests - then.requests;
      for (const [cls, n] of Object.entries(now_.responses)) out.responses[cls] = (out.responses[cls] ?? 0) + n - (then.responses[cls] ?? 0);
      out.bytes_in += now_.bytes_in - then.bytes_in;
      out.bytes_out += now_.bytes_out - then.bytes_out;
      bounds = latest.latency_bounds_ms;
      now_.latency_counts.forEach((n, i) => (latency[i] = (latency[i] ?? 0) + n - (then.latency_counts[i] ?? 0)));
    }
    const total = latency.reduce((a, b) => a + b, 0);
    const quantile = (q: number) => {
      if (total === 0) return null;
      let seen = 0;
      for (let i = 0; i < latency.length; i++) {
        seen += latency[i] ?? 0;
        if (seen >= q * total) return i < bounds.length ? bounds[i] : null;
      }
      return null;
    };
    out.latency_ms = { p50: quantile(0.5), p99: quantile(0.99) };
    out.window_s = Math.min(out.window_s, WINDOW_MS / 1000);
    return out;
  }
}
