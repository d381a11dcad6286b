import { type Bus, channels, type msg } from '@nap/common';
import { latencyBoundsMs, type MetricsSnapshot } from './metrics.js';

export const APP_STATS_EVERY_MS = 10_000;
const MAX_APPS = 2000;

/** The apps this process has carried traffic for, their counters since it started, on the bus (busiest first past MAX_APPS), every APP_STATS_EVERY_MS. */
export function publishAppStats(bus: Bus, router: string, startedAt: number, m: MetricsSnapshot): void {
  const apps = Object.entries(m.apps)
    .sort(([, a], [, b]) => b.requests - a.requests)
    .slice(0, MAX_APPS);
  // Sent with no app too: the next report that has one is then compared with this, not with itself.
  const body: msg.RouterAppStats = {
    router,
    at: Date.now(),
    started_at: startedAt,
    latency_bounds_ms: [...latencyBoundsMs],
    apps: Object.fromEntries(
      apps.map(([name, a]) => [name, { requests: a.requests, responses: a.responses, bytes_in: a.bytes_in, bytes_out: a.bytes_out, latency_counts: a.latency.counts }]),
    ),
  };
  try {
    bus.publish(channels.routerAppStats, body);
  } catch {
    // NATS away: the next report carries the same totals
  }
}
