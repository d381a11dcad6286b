import type { Logger, Settings } from '@nap/common';
import { startRouter } from '../router.js';
import { clusterIdVariable, share, workerIndexVariable, type PrimaryMessage, type WorkerMessage } from './messages.js';

/**
 * One worker of a multi-core router: a whole router (its own NATS connection, so every worker hears
 * every registration at once, and its own copy of the table) without a status port. It reports its
 * counters to the primary every second and hands over its table when asked.
 */
export async function startWorker(settings: Settings, log: Logger, accessLog: Logger | false): Promise<{ close(): Promise<void> }> {
  const workers = settings.routerWorkers;
  const id = `${process.env[clusterIdVariable] ?? 'router'}-w${process.env[workerIndexVariable] ?? process.pid}`;
  const router = await startRouter(settings, log, {
    id,
    statusServer: false,
    accessLog,
    limits: {
      maxInFlight: share(settings.routerMaxInFlight, workers),
      maxConnsPerInstance: share(settings.routerMaxConnsPerInstance, workers),
    },
  });
  const send = (m: WorkerMessage) => {
    if (process.connected) process.send?.(m);
  };
  const report = () => send({ type: 'report', report: router.report() });
  const timer = setInterval(report, 1000);
  timer.unref();
  process.on('message', (m: PrimaryMessage) => {
    if (m?.type === 'routes') send({ type: 'routes', requestId: m.requestId, json: router.routesJson() });
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(timer);
      await router.close();
    })());
  // The primary is gone (killed): a worker without it must not live on holding the port.
  process.once('disconnect', () => {
    log.warn('router primary gone, stopping');
    void close().finally(() => process.exit(0));
  });
  report();
  send({ type: 'ready' });
  return { close };
}
