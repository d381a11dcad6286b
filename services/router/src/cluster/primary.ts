import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { Logger, Settings } from '@nap/common';
import { sumSnapshots, type MetricsSnapshot } from '../status/metrics.js';
import { StatusServer } from '../status/status-server.js';
import { varzDocument, type ProcessReport } from '../status/varz.js';
import { clusterIdVariable, isWorkerMessage, workerIndexVariable, type PrimaryMessage } from './messages.js';

export interface PrimaryOptions {
  statusListenHost?: string;
  /** A worker that dies sooner than this after its start is restarted after a pause, not at once. */
  crashLoopMs?: number;
}

/**
 * The primary of a multi-core router: forks one worker per NAP_ROUTER_WORKERS (node:cluster hands
 * them the proxy port's connections), restarts any that dies, and serves the status port with the
 * workers' counters added up. It holds no routes and no NATS connection of its own.
 */
export async function startPrimary(settings: Settings, log: Logger, opts: PrimaryOptions = {}): Promise<{ close(): Promise<void> }> {
  const id = randomUUID();
  const startedAt = Date.now();
  const crashLoopMs = opts.crashLoopMs ?? 2000;
  const reports = new Map<Worker, ProcessReport>();
  /** Counters of workers that died, so /varz totals never go backwards. */
  let retired: MetricsSnapshot | undefined;
  const routeRequests = new Map<number, (json: string) => void>();
  let nextRequestId = 1;
  let stopping = false;

  const fork = (index: number): Promise<Worker> => {
    const worker = cluster.fork({ [clusterIdVariable]: id, [workerIndexVariable]: String(index) });
    const forkedAt = Date.now();
    const ready = new Promise<Worker>((resolve, reject) => {
      worker.on('message', (m: unknown) => {
        if (!isWorkerMessage(m)) return;
        if (m.type === 'ready') resolve(worker);
        else if (m.type === 'report') reports.set(worker, m.report);
        else if (m.type === 'routes') routeRequests.get(m.requestId)?.(m.json);
      });
      worker.once('exit', (code, signal) => {
        reject(new Error(`router worker ${index} exited (${signal ?? code}) before it was ready`));
        const last = reports.get(worker);
        reports.delete(worker);
        if (last) retired = sumSnapshots(retired ? [retired, last.metrics] : [last.metrics]);
        if (stopping) return;
        const quick = Date.now() - forkedAt < crashLoopMs;
        log.error({ index, pid: worker.process.pid, code, signal }, quick ? 'router worker died at start, restarting in a second' : 'router worker died, restarting');
        setTimeout(() => fork(index).catch(() => {}), quick ? 1000 : 0).unref();
      });
    });
    ready.catch(() => {});
    return ready;
  };

  const routes = (): Promise<string> => {
    const worker = [...reports.keys()].find((w) => w.isConnected());
    if (!worker) return Promise.reject(new Error('no router worker is up'));
    const requestId = nextRequestId++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        routeRequests.delete(requestId);
        reject(new Error('the router worker did not hand over its table in time'));
      }, 5000);
      routeRequests.set(requestId, (json) => {
        clearTimeout(timer);
        routeRequests.delete(requestId);
        resolve(json);
      });
      worker.send({ type: 'routes', requestId } satisfies PrimaryMessage);
    });
  };

  const status = new StatusServer({
    port: settings.routerStatusPort,
    listenHost: opts.statusListenHost,
    user: settings.routerStatusUser,
    password: settings.routerStatusPassword,
    varz: () => varzDocument(id, startedAt, [...reports.values()], retired),
    metrics: () => sumSnapshots([...[...reports.values()].map((r) => r.metrics), ...(retired ? [retired] : [])]),
    routes,
  });

  const close = async () => {
    stopping = true;
    await status.close();
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => w.process.kill('SIGKILL'), 10_000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
  };

  try {
    await Promise.all(Array.from({ length: settings.routerWorkers }, (_, i) => fork(i)));
    await status.listen();
  } catch (err) {
    await close();
    throw err;
  }
  log.info({ id, workers: settings.routerWorkers, port: settings.routerPort, statusPort: settings.routerStatusPort }, 'router cluster listening');
  return { close };
}
