import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express, { type ErrorRequestHandler } from 'express';
import { listenHttp, NapError, notFound, requireSetting, type Logger, type Settings } from '@nap/common';
import type { Follow } from './follow.js';
import { InstanceSnapshot } from './instance-snapshot.js';
import { resourcePathRoute } from './resource-route.js';
import { resourceParam } from './resources.js';
import { signatureCheck } from './signature-check.js';

export interface DirectoryServer {
  port: number;
  /** Tails in progress (each holds a descriptor, a watcher and a timer until its client leaves). */
  followCount(): number;
  /** Ends every follow in progress, then stops accepting and closes connections. */
  close(): Promise<void>;
}

export interface DirectoryServerOptions {
  /** Clock for signature expiry, in ms (tests pin it so that the 300 s / 30 s limits are exact). */
  now?: () => number;
  /** How often a followed file is polled besides fs.watch. */
  followPollMs?: number;
}

/** Connections still open this long after close() (a slow tail reader) are cut. */
const CLOSE_GRACE_MS = 2000;

/**
 * The directory server of one DEA node (CONTRACT §7): signed, expiring URLs to the files of the
 * instances and staging tasks under `settings.deaDir`, on `settings.deaHost:settings.directoryPort`.
 * Which instances exist, and where, comes from the DEA's `${deaDir}/snapshot.json` only.
 */
export async function startDirectoryServer(settings: Settings, log: Logger, options: DirectoryServerOptions = {}): Promise<DirectoryServer> {
  const secret = requireSetting(settings, 'directorySecret', 'NAP_DIRECTORY_SECRET');
  const clock = options.now ?? Date.now;
  const follows = new Set<Follow>();

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const snapshot = new InstanceSnapshot(join(settings.deaDir, 'snapshot.json'), log);
  const serve = resourcePathRoute({ deaDir: settings.deaDir, snapshot, log, follows, pollMs: options.followPollMs });
  app.get('/instance_paths/:id', resourceParam('instance'), signatureCheck(secret, clock), serve);
  app.get('/staging_tasks/:id', resourceParam('staging'), signatureCheck(secret, clock), serve);
  app.get('/task_runs/:id', resourceParam('task'), signatureCheck(secret, clock), serve);
  app.use((_req, _res) => {
    throw notFound('not_found', 'the directory server serves /instance_paths/:id, /staging_tasks/:id and /task_runs/:id');
  });
  const answerError: ErrorRequestHandler = (err, req, res, _next) => {
    if (res.headersSent) {
      log.warn({ err, path: req.path }, 'failed while sending');
      res.destroy();
      return;
    }
    if (err instanceof NapError) {
      res.status(err.status).json(err.toBody());
      return;
    }
    // req.path, not the URL: the query holds a signature still valid for minutes.
    log.error({ err, path: req.path }, 'request failed');
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  };
  app.use(answerError);

  const server = await listenHttp(app, { port: settings.directoryPort, host: settings.deaHost, tls: settings.tls });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: settings.deaHost, port, deaDir: settings.deaDir }, 'directory server listening');

  return {
    port,
    followCount: () => follows.size,
    close: async () => {
      const followsStopped = [...follows].map((follow) => {
        follow.end();
        return follow.stopped;
      });
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      await Promise.all([serverClosed, ...followsStopped]);
    },
  };
}
