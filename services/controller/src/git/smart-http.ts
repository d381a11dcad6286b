import { spawn } from 'node:child_process';
import { isAppName, type Logger, NapError } from '@nap/common';
import { type Request, type Response, Router } from 'express';
import { mayTouch, type Caller } from '../auth/bearer.js';
import type { AppRecord } from '../apps/app-record.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { PushDeployDeps } from './push-deploy.js';
import { handleReceivePack } from './receive-pack.js';
import type { GitRepositories } from './repositories.js';

export interface GitDeps {
  repositories: GitRepositories;
  apps: AppsRepository;
  /** Who a token belongs to (the same check as the API's bearer auth). */
  authenticate: (token: string) => Promise<Caller | null>;
  /** Deploying a pushed commit: the upload, configuration and start paths of the API. */
  deploy: PushDeployDeps;
  uploadLimitMb: number;
  log: Logger;
}

function deny(res: Response, status: number, message: string): void {
  if (status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="nap"');
  res.status(status).type('text/plain').send(`${message}\n`);
}

/** The token is the password of HTTP basic auth (the user name is not used), as git sends it. */
function basicPassword(req: Request): string | null {
  const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : null;
}

/**
 * `git push {api}/git/{app}.git`: git's smart HTTP protocol, one bare repository per app (named by
 * its id). Fetching needs the app and the right to touch it; pushing too, except that a push to a
 * name nobody has creates the app as the pusher's (as `nap push` does). Refs advertisements and
 * fetches are served by `git http-backend`; a push by receive-pack.ts, which deploys it in process.
 */
export function gitRouter(deps: GitDeps): Router {
  const router = Router();
  router.all('/git/:repo/*rest', async (req, res) => {
    const repo = String(req.params.repo);
    const name = repo.replace(/\.git$/, '');
    if (!repo.endsWith('.git') || !isAppName(name)) return deny(res, 404, `no repository ${repo}: use {api}/git/<app>.git`);
    const token = basicPassword(req);
    const caller = token ? await deps.authenticate(token) : null;
    if (!caller || !token) return deny(res, 401, 'authentication required: use your nap token as the password');
    const rest = (req.params.rest as unknown as string[]).join('/');
    const service = rest === 'info/refs' ? String(req.query.service ?? '') : rest;
    if (!['git-receive-pack', 'git-upload-pack'].includes(service) || (rest !== 'info/refs' && req.method !== 'POST')) {
      return deny(res, 404, 'only git push and fetch are served here');
    }
    const app = await deps.apps.get(name);
    if (app && !mayTouch(caller, app.owner)) return deny(res, 403, `app ${name} belongs to another user`);
    if (!app && service === 'git-upload-pack') return deny(res, 404, `app ${name} does not exist: there is nothing to fetch`);

    if (rest === 'git-receive-pack') {
      await handleReceivePack(
        { repositories: deps.repositories, deploy: deps.deploy, uploadLimitMb: deps.uploadLimitMb, log: deps.log, appFor: (n, pusher) => appFor(deps, n, pusher) },
        req,
        res,
        name,
        { caller },
      );
      return;
    }
    // A push to a new app is shown an empty repository; the app and its own come with the push.
    const served = app ? await deps.repositories.ensure(app.id) : await deps.repositories.empty();
    serveWithHttpBackend(deps, req, res, served, rest, caller);
  });
  return router;
}

/** The app a push goes to: the pusher's own, or a new one made theirs. */
async function appFor(deps: GitDeps, name: string, pusher: { caller: Caller }): Promise<AppRecord> {
  let app = await deps.apps.get(name);
  if (!app) {
    // By the lifecycle, as PUT /v1/apps/:name would: the same checks (route claims, quotas).
    await deps.deploy.lifecycle.put(pusher.caller, name, {});
    app = await deps.apps.get(name);
  }
  if (!app) throw new NapError(409, 'app_gone', `app ${name} was deleted while the push arrived: push again`);
  if (!mayTouch(pusher.caller, app.owner)) throw new NapError(403, 'forbidden', `app ${name} belongs to another user`);
  return app;
}

function serveWithHttpBackend(deps: GitDeps, req: Request, res: Response, served: string, rest: string, caller: Caller): void {
  const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
  const cgi = spawn('git', ['-c', 'core.hooksPath=/dev/null', 'http-backend'], {
    env: {
      PATH: process.env.PATH,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_PROJECT_ROOT: deps.repositories.root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: `/${served}/${rest}`,
      REQUEST_METHOD: req.method,
      QUERY_STRING: query,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
      REMOTE_USER: caller.name,
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
    },
  });
  req.pipe(cgi.stdin);
  cgi.stderr.on('data', (d: Buffer) => deps.log.warn({ repo: served, stderr: d.toString().trim() }, 'git http-backend'));
  let head = Buffer.alloc(0);
  let headersDone = false;
  cgi.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') : head.indexOf('\n\n');
    if (end < 0) return;
    const sep = head[end] === 0x0d ? 4 : 2;
    for (const line of head.subarray(0, end).toString().split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') res.status(Number(value.split(' ')[0]));
      else res.setHeader(name, value);
    }
    headersDone = true;
    res.write(head.subarray(end + sep));
  });
  cgi.on('close', (code) => {
    if (!headersDone) return deny(res, 500, `git http-backend failed (exit ${code})`);
    res.end();
  });
  // The response closing before git finished means the client went away: stop the backend.
  res.on('close', () => {
    if (!res.writableFinished) cgi.kill();
  });
}
