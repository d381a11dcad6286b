import { spawn } from 'node:child_process';
import { access, chmod, copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isAppName, type Logger } from '@nap/common';
import { type Request, type Response, Router } from 'express';
import { mayTouch, type Caller } from '../auth/bearer.js';
import type { AppsRepository } from '../store/apps-repository.js';

const run = promisify(execFile);
const hookFile = new URL('../../../git-hooks/post-receive', import.meta.url).pathname;
const cliFile = new URL('../../../../../cli/bin/nap.js', import.meta.url).pathname;

export interface GitDeps {
  reposDir: string;
  apiUrl: string;
  apps: AppsRepository;
  /** Who a token belongs to (the same check as the API's bearer auth). */
  authenticate: (token: string) => Promise<Caller | null>;
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

async function ensureRepository(dir: string): Promise<void> {
  try {
    await access(join(dir, 'HEAD'));
  } catch {
    await mkdir(dir, { recursive: true });
    await run('git', ['init', '--quiet', '--bare', dir]);
    await run('git', ['-C', dir, 'config', 'http.receivepack', 'true']);
  }
  // Always the current hook, so an upgraded nap deploys the upgraded way.
  await copyFile(hookFile, join(dir, 'hooks', 'post-receive'));
  await chmod(join(dir, 'hooks', 'post-receive'), 0o755);
}

/**
 * `git push {api}/git/{app}.git`: git's smart HTTP protocol served by `git http-backend` (CGI), one
 * bare repository per app. Pushing deploys (the post-receive hook runs `nap push` as the pusher).
 */
export function gitRouter(deps: GitDeps): Router {
  const router = Router();
  router.all('/git/:repo/*rest', async (req, res) => {
    const repo = String(req.params.repo);
    const app = repo.replace(/\.git$/, '');
    if (!repo.endsWith('.git') || !isAppName(app)) return deny(res, 404, `no repository ${repo}: use {api}/git/<app>.git`);
    const token = basicPassword(req);
    const caller = token ? await deps.authenticate(token) : null;
    if (!caller || !token) return deny(res, 401, 'authentication required: use your nap token as the password');
    const existing = await deps.apps.get(app);
    if (existing && !mayTouch(caller, existing.owner)) return deny(res, 403, `app ${app} belongs to another user`);
    const rest = (req.params.rest as unknown as string[]).join('/');
    const service = String(req.query.service ?? '');
    const allowed = rest === 'info/refs' ? ['git-receive-pack', 'git-upload-pack'].includes(service) : ['git-receive-pack', 'git-upload-pack'].includes(rest);
    if (!allowed) return deny(res, 404, 'only git push and fetch are served here');

    await ensureRepository(join(deps.reposDir, repo));
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: deps.reposDir,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: `/${repo}/${rest}`,
        REQUEST_METHOD: req.method,
        QUERY_STRING: query,
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
        REMOTE_USER: caller.name,
        REMOTE_ADDR: req.socket.remoteAddress ?? '',
        // For the post-receive hook: deploy as the pusher, through the API.
        NAP_NODE: process.execPath,
        NAP_CLI: cliFile,
        NAP_API: deps.apiUrl,
        NAP_TOKEN: token,
        NAP_GIT_APP: app,
      },
    });
    req.pipe(cgi.stdin);
    cgi.stderr.on('data', (d: Buffer) => deps.log.warn({ repo, stderr: d.toString().trim() }, 'git http-backend'));
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
  });
  return router;
}
