import { type MetricsSnapshot, quantileMs } from './metrics.js';

/**
 * /metrics in Prometheus' text format, from the counters the router keeps anyway (summed over a
 * cluster's workers), through prom-client. Loaded at the first scrape: a router nobody scrapes
 * carries none of it.
 */
export async function prometheusText(m: MetricsSnapshot): Promise<{ contentType: string; body: string }> {
  const { Counter, Gauge, Registry } = await import('prom-client');
  const registers = [new Registry()];
  const byApp = new Counter({ name: 'nap_router_app_requests_total', help: 'Requests an app answered (or failed), by status class', labelNames: ['app', 'class'], registers });
  const bytes = new Counter({ name: 'nap_router_app_bytes_total', help: "Bytes of an app's requests (in) and responses (out)", labelNames: ['app', 'direction'], registers });
  const latency = new Gauge({ name: 'nap_router_app_latency_ms', help: "Upper estimate of an app's request latency at a quantile, since the router started", labelNames: ['app', 'quantile'], registers });
  for (const [app, a] of Object.entries(m.apps)) {
    for (const [cls, n] of Object.entries(a.responses)) if (n > 0) byApp.inc({ app, class: cls }, n);
    bytes.inc({ app, direction: 'in' }, a.bytes_in);
    bytes.inc({ app, direction: 'out' }, a.bytes_out);
    for (const q of [0.5, 0.99]) {
      const v = quantileMs(a.latency, q);
      if (v !== null && v !== Infinity) latency.set({ app, quantile: String(q) }, v);
    }
  }
  const all = new Counter({ name: 'nap_router_requests_total', help: 'Every request the router answered, by status class', labelNames: ['class'], registers });
  for (const [cls, n] of Object.entries(m.responses)) all.inc({ class: cls }, n);
  const errors = new Counter({ name: 'nap_router_errors_total', help: 'Requests the router answered itself, by X-Nap-Router-Error', labelNames: ['error'], registers });
  for (const [error, n] of Object.entries(m.router_errors)) errors.inc({ error }, n);
  new Gauge({ name: 'nap_router_in_flight', help: 'Requests being handled now', registers }).set(m.in_flight);
  new Gauge({ name: 'nap_router_websockets_open', help: 'Websockets open now', registers }).set(m.websockets.open);
  return { contentType: registers[0].contentType, body: await registers[0].metrics() };
}
