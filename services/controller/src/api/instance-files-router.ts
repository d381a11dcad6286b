import { badRequest, msg, notFound, signedUrl } from '@nap/common';
import { type Request, type Response, Router } from 'express';
import type { AppRecord } from '../apps/app-record.js';
import type { DeaPool } from '../placement/dea-pool.js';
import type { ActualInstance, ActualInstancesRepository } from '../store/actual-instances.js';
import type { AppsRepository } from '../store/apps-repository.js';
import { loadApp } from '../apps/app-access.js';
import { appName } from './app-lookup.js';
import { proxyDirectory } from './directory-proxy.js';

export interface InstanceFilesDeps {
  apps: AppsRepository;
  actual: ActualInstancesRepository;
  pool: DeaPool;
  directorySecret: string;
  /** The cluster's CA, when directory servers speak TLS (the controller reads logs through them for ?via=api). */
  directoryCa?: Buffer;
}

const logFiles = { stdout: 'logs/stdout.log', stderr: 'logs/stderr.log' } as const;

const stateRank: Record<string, number> = { RUNNING: 0, STARTING: 1, CRASHED: 2, STOPPING: 3, STOPPED: 4 };

/**
 * `instance` is an instance id, or an index of the process type (web unless ?process_type= names another). For an index with several instances (a replacement
 * starting, an old one crashed) the one to read is the live one of the current version, else the
 * most recent: after a crash that is the crashed one, whose last words are what the user wants.
 */
function pickInstance(app: AppRecord, instances: ActualInstance[], wanted: string, processType: string): ActualInstance {
  const byId = instances.find((i) => i.instance_id === wanted);
  if (byId) return byId;
  if (!/^\d+$/.test(wanted)) throw notFound('instance_not_found', `app ${app.name} has no instance ${wanted}: see nap app ${app.name}`);
  const atIndex = instances.filter((i) => i.index === Number(wanted) && i.process_type === processType);
  if (atIndex.length === 0) {
    throw notFound('instance_not_found', `app ${app.name} has no ${processType} instance at index ${wanted}: see nap app ${app.name}`);
  }
  return atIndex.sort(
    (a, b) =>
      Number(b.version === app.version) - Number(a.version === app.version) ||
      (stateRank[a.state] ?? 9) - (stateRank[b.state] ?? 9) ||
      b.since - a.since,
  )[0];
}

function processTypeOf(req: Request): string {
  const parsed = msg.ProcessType.safeParse(req.query.process_type ?? msg.DEFAULT_PROCESS_TYPE);
  if (!parsed.success) throw badRequest('invalid_process_type', 'process_type is a process type name such as web or worker');
  return parsed.data;
}

/**
 * Logs and files of instances: the controller answers 302 with a URL on the directory server of
 * the instance's node, signed and short-lived (CONTRACT §7). With `?via=api` (the dashboard, whose
 * page may call only its own origin) it reads that URL itself and passes the answer on.
 */
export function instanceFilesRouter(deps: InstanceFilesDeps): Router {
  const { apps, actual, pool, directorySecret } = deps;
  const router = Router();

  const answer = (req: Request, res: Response, url: string) => (req.query.via === 'api' ? proxyDirectory(url, req, res, deps.directoryCa) : res.redirect(302, url));

  function redirectToInstanceFile(req: Request, res: Response, inst: ActualInstance, path: string, tail: boolean): void {
    const dea = pool.get(inst.dea_id);
    if (!dea) throw notFound('instance_not_found', `the node of instance ${inst.index} (DEA ${inst.dea_id}) is gone, and its files with it`);
    answer(req, res, signedUrl(directorySecret, dea.directory_url, { kind: 'instance', instanceId: inst.instance_id }, path, { tail }));
  }

  router.get('/v1/apps/:name/logs', async (req, res) => {
    const app = await loadApp(apps, appName(req), req.caller);
    const file = String(req.query.file ?? 'stdout');
    const tail = req.query.tail === 'true';
    if (file === 'staging') {
      if (!app.staging?.log_url) throw notFound('no_staging_log', `app ${app.name} has not been staged yet: run nap push ${app.name}`);
      const origin = new URL(app.staging.log_url).origin;
      answer(req, res, signedUrl(directorySecret, origin, { kind: 'staging', taskId: app.staging.task_id }, 'staging.log', { tail }));
      return;
    }
    if (file !== 'stdout' && file !== 'stderr') throw badRequest('invalid_file', 'file must be stdout, stderr or staging');
    const inst = pickInstance(app, await actual.ofApp(app.id), String(req.query.instance ?? '0'), processTypeOf(req));
    redirectToInstanceFile(req, res, inst, logFiles[file], tail);
  });

  const files = async (req: Request, res: Response) => {
    const app = await loadApp(apps, appName(req), req.caller);
    const inst = pickInstance(app, await actual.ofApp(app.id), String(req.params.index), processTypeOf(req));
    const segments = req.params.path as unknown as string[] | undefined;
    // ?path= carries a path as typed: in the URL's path, clients and proxies collapse `..` before
    // anyone sees it. Either way the directory server alone decides what is inside the instance.
    if (req.query.path !== undefined && typeof req.query.path !== 'string') throw badRequest('invalid_path', 'path is given once, as a string');
    const path = typeof req.query.path === 'string' ? req.query.path : (segments ?? []).join('/');
    redirectToInstanceFile(req, res, inst, path, req.query.tail === 'true');
  };
  router.get('/v1/apps/:name/instances/:index/files', files);
  router.get('/v1/apps/:name/instances/:index/files/*path', files);

  return router;
}
