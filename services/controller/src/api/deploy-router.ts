import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { Router } from 'express';
import { z } from 'zod';
import type { AppLifecycle } from '../apps/lifecycle.js';
import type { AppPresenter } from '../apps/present.js';
import { appName } from './app-lookup.js';

export const DeployBody = z.object({ git_url: z.string().min(1).max(2048), ref: z.string().min(1).max(200).optional() }).strict();

export interface DeployDeps {
  lifecycle: AppLifecycle;
  presenter: AppPresenter;
  /** Clones `ref` of `gitUrl` into a package at `file` (git/clone.ts), as the caller's role allows. */
  cloneToPackage(gitUrl: string, ref: string | undefined, file: string, role: 'admin' | 'developer' | undefined): Promise<void>;
}

/** POST /v1/apps/:name/deploy {git_url, ref}: the controller clones the repository and deploys its tree as bits. */
export function deployRouter(deps: DeployDeps): Router {
  const router = Router();
  router.post('/v1/apps/:name/deploy', express.json({ limit: '16kb' }), async (req, res) => {
    const name = appName(req);
    const app = await deps.lifecycle.load(name, req.caller);
    const body = DeployBody.parse(req.body ?? {});
    const work = await mkdtemp(join(tmpdir(), 'nap-deploy-'));
    try {
      const file = join(work, 'bits.tgz');
      await deps.cloneToPackage(body.git_url, body.ref, file, req.caller?.role);
      const accepted = await deps.lifecycle.acceptBits(app, file);
      const started = await deps.lifecycle.start(req.caller, name);
      res.json({ ...(await deps.presenter.one(started)), package_hash: accepted.package_hash, changed: accepted.changed });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
  return router;
}
