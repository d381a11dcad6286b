import http from 'node:http';
import type { Logger } from '@nap/common';
import type { InstanceRegistry } from '../instances/instance-registry.js';

export interface DeaMetricsSources {
  registry: InstanceRegistry;
  stagingMemoryMb: () => number;
  stagingsRunning: () => number;
  tasksRunning: () => number;
  taskMemoryMb: () => number;
}

/**
 * The DEA's status port (issue 16): `/metrics` in Prometheus' text format (instances by state,
 * stagings and tasks running and the memory they hold, the process's own) and `/healthz`, on
 * loopback only. A port that is taken costs the metrics, never the DEA: it says so once.
 */
export async function startDeaStatus(port: number, sources: DeaMetricsSources, log: Logger): Promise<{ close(): Promise<void> }> {
  const { collectDefaultMetrics, Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'nap_dea_' });
  new Gauge({
    name: 'nap_dea_instances',
    help: 'Instances this DEA holds, by state',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const i of sources.registry.all()) counts.set(i.state, (counts.get(i.state) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  new Gauge({ name: 'nap_dea_stagings_running', help: 'Stagings running on this DEA', registers, collect() { this.set(sources.stagingsRunning()); } });
  new Gauge({ name: 'nap_dea_staging_memory_mb', help: 'Memory the running stagings hold', registers, collect() { this.set(sources.stagingMemoryMb()); } });
  new Gauge({ name: 'nap_dea_tasks_running', help: 'One-off tasks running on this DEA', registers, collect() { this.set(sources.tasksRunning()); } });
  new Gauge({ name: 'nap_dea_task_memory_mb', help: 'Memory the running tasks hold', registers, collect() { this.set(sources.taskMemoryMb()); } });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.end('ok');
    if (path !== '/metrics') {
      res.statusCode = 404;
      return void res.end('not found\n');
    }
    registry.metrics().then(
      (body) => res.setHeader('content-type', registry.contentType).end(body),
      () => res.writeHead(500).end(),
    );
  });
  let listening = false;
  await new Promise<void>((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      log.warn({ port, err: err.message }, 'the DEA status port could not be opened: no /metrics (set NAP_DEA_STATUS_PORT to a free port)');
      resolve();
    });
    server.listen(port, '127.0.0.1', () => {
      listening = true;
      resolve();
    });
  });
  return { close: () => (listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve()) };
}
