import { isAppName, NapError } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import type { AppLifecycle } from '../apps/lifecycle.js';
import { fillParameters, parametersOf } from '../apps/parameters.js';
import type { AppPresenter } from '../apps/present.js';
import { appName } from './app-lookup.js';

export const SimilarBody = z
  .object({
    name: z.string().refine(isAppName, 'not a valid app name: 1-63 lowercase letters, digits and -').optional(),
    params: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(4096)).default({}),
  })
  .strict();

export interface SimilarDeps {
  lifecycle: AppLifecycle;
  presenter: AppPresenter;
}

/**
 * The seeds' get_parameters / start_common: an app whose command has `{param}` placeholders is
 * launched again as a "similar app" with other values. It shares the droplet, so nothing stages.
 */
export function similarRouter(deps: SimilarDeps): Router {
  const { lifecycle, presenter } = deps;
  const router = Router();

  router.get('/v1/apps/:name/parameters', async (req, res) => {
    const app = await lifecycle.load(appName(req), req.caller);
    res.json(parametersOf(app.command ?? app.droplet?.start_command ?? null));
  });

  router.post('/v1/apps/:name/similar', express.json({ limit: '64kb' }), async (req, res) => {
    const source = await lifecycle.load(appName(req), req.caller);
    const body = SimilarBody.parse(req.body ?? {});
    if (!source.droplet || !source.package) throw new NapError(409, 'not_staged', `app ${source.name} has no droplet yet: push it first`);
    const command = fillParameters(source.command ?? source.droplet.start_command, body.params);
    const app = await lifecycle.createSimilar(req.caller, source, body.name, command, body.params);
    res.status(201).json(await presenter.one(app));
  });

  return router;
}
