import type { RequestHandler } from 'express';
import { Router } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { requireAdmin } from '../auth/bearer.js';

/**
 * The controller's metrics for Prometheus (GET /v1/metrics, admins only: a scrape config carries
 * the admin token as a bearer): the API's latency by route and status, the tasks it started, and
 * the process's own (memory, event loop lag).
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly latency = new Histogram({
    name: 'nap_controller_http_request_duration_seconds',
    help: 'Time to answer an API request, by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly tasksStarted = new Counter({ name: 'nap_controller_tasks_started_total', help: 'One-off and cron tasks started', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'nap_controller_' });
  }

  /** Times every request, labelled by the route pattern it matched (never the raw path: app names would make one series each). */
  timing(): RequestHandler {
    return (req, res, next) => {
      const end = this.latency.startTimer();
      res.once('finish', () => {
        const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
        end({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    };
  }

  router(): Router {
    const router = Router();
    router.get('/v1/metrics', async (req, res) => {
      requireAdmin(req, 'read metrics');
      res.type(this.registry.contentType).send(await this.registry.metrics());
    });
    return router;
  }
}
