import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Blobstore } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import { acceptPackage, type StartDeps, startApp } from '../apps/packages.js';
import { presentApp } from '../apps/present.js';
import { cloneToPackage } from '../git/clone.js';
import type { ActualInstancesRepository } from '../store/actual-instances.js';
import { appName, loadApp } from './app-lookup.js';

const DeployBody = z.object({ git_url: z.string().min(1).max(2048), ref: z.string().min(1).max(200).optional() }).strict();

export interface DeployDeps extends StartDeps {
  blobs: Blobstore;
  actual: ActualInstancesRepository;
  directorySecret: string;
}

/** POST /v1/apps/:name/deploy {git_url, ref}: the controller clones the repository and deploys its tree as bits. */
export function deployRouter(deps: DeployDeps): Router {
  const router = Router();
  router.post('/v1/apps/:name/deploy', express.json({ limit: '16kb' }), async (req, res) => {
    const name = appName(req);
    const app = await loadApp(deps.apps, name, req.caller);
    const body = DeployBody.parse(req.body ?? {});
    const work = await mkdtemp(join(tmpdir(), 'nap-deploy-'));
    try {
      const file = join(work, 'bits.tgz');
      await cloneToPackage(body.git_url, body.ref, file, req.caller?.role);
      const accepted = await acceptPackage(deps.apps, deps.blobs, app, file);
      const started = await startApp(deps, name, req.caller?.name ?? 'admin', req.caller);
      res.json({ ...presentApp(started, await deps.actual.ofApp(started.id), deps.directorySecret), package_hash: accepted.package_hash, changed: accepted.changed });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
  return router;
}
