import cluster from 'node:cluster';
import { loadSettings, runService, type Settings } from '@nap/common';
import pino, { type Logger } from 'pino';
import { startPrimary } from './cluster/primary.js';
import { startWorker } from './cluster/worker.js';
import { startRouter } from './router.js';

/**
 * Access lines go to stdout through their own pino with an asynchronous destination: at tens of
 * thousands of requests a second, a write(2) per line would cost more than the proxying.
 */
function accessLogger(settings: Settings): { logger: Logger; flush(): void } {
  const destination = pino.destination({ dest: 1, sync: false });
  const logger = pino({ name: 'router', level: settings.logLevel, base: { component: 'accesslog', pid: process.pid } }, destination);
  return {
    logger,
    flush: () => {
      try {
        destination.flushSync();
      } catch {
        // A write in progress; what it holds is lost with the process, as with any crash.
      }
    },
  };
}

function workerCount(): number {
  try {
    return loadSettings().routerWorkers;
  } catch {
    return 1; // runService reports the settings problem
  }
}

const withAccessLog =
  (start: (settings: Settings, log: Logger, access: Logger) => Promise<{ close(): Promise<void> }>) =>
  async (settings: Settings, log: Logger) => {
    const access = accessLogger(settings);
    const running = await start(settings, log, access.logger);
    return {
      close: async () => {
        await running.close();
        access.flush();
      },
    };
  };

if (workerCount() <= 1) {
  await runService('router', withAccessLog((settings, log, access) => startRouter(settings, log, { accessLog: access })));
} else if (cluster.isPrimary) {
  await runService('router', (settings, log) => startPrimary(settings, log));
} else {
  await runService('router', withAccessLog((settings, log, access) => startWorker(settings, log, access)));
}
