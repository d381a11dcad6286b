import type { ReleaseView } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import type { AppLifecycle } from '../apps/lifecycle.js';
import type { AppPresenter } from '../apps/present.js';
import type { ReleasesRepository } from '../store/releases-repository.js';
import { appName } from './app-lookup.js';

export const Rollback = z
  .object({
    version: z.union([z.number().int().positive(), z.string().regex(/^v?\d+$/, 'a release such as 3 or v3').transform((v) => Number(v.replace(/^v/, '')))]),
  })
  .strict();

export interface ReleasesDeps {
  lifecycle: AppLifecycle;
  presenter: AppPresenter;
  releases: ReleasesRepository;
}

export function releasesRouter(deps: ReleasesDeps): Router {
  const { lifecycle, presenter, releases } = deps;
  const router = Router();

  router.get('/v1/apps/:name/releases', async (req, res) => {
    const app = await lifecycle.load(appName(req), req.caller);
    res.json(
      (await releases.list(app.id)).map((r): ReleaseView => ({
        version: r.version,
        created_at: r.created_at,
        actor: r.actor,
        description: r.description,
        droplet_hash: r.droplet.hash,
      })),
    );
  });

  // Back to an earlier release's code and configuration together, as a new release; the health
  // manager replaces the instances one at a time.
  router.post('/v1/apps/:name/rollback', express.json({ limit: '16kb' }), async (req, res) => {
    const name = appName(req);
    const { version } = Rollback.parse(req.body ?? {});
    const app = await lifecycle.rollback(req.caller, name, version);
    res.json(await presenter.one(app));
  });

  return router;
}
