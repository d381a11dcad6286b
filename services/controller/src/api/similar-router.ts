import { randomUUID } from 'node:crypto';
import { conflict, isAppName, NapError, type Settings } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import type { AppRecord } from '../apps/app-record.js';
import { fillParameters, parametersOf } from '../apps/parameters.js';
import { presentApp } from '../apps/present.js';
import type { HealthManager } from '../health/health-manager.js';
import type { ActualInstancesRepository } from '../store/actual-instances.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { EventsRepository } from '../store/events-repository.js';
import type { ReleasesRepository } from '../store/releases-repository.js';
import type { RoutesRepository } from '../store/routes-repository.js';
import type { RouteClaims } from '../routes/route-claims.js';
import { appName, loadApp } from './app-lookup.js';
import type { QuotaGuard } from '../quotas/quota-guard.js';

const SimilarBody = z
  .object({
    name: z.string().refine(isAppName, 'not a valid app name: 1-63 lowercase letters, digits and -').optional(),
    params: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(4096)).default({}),
  })
  .strict();

export interface SimilarDeps {
  settings: Settings;
  apps: AppsRepository;
  actual: ActualInstancesRepository;
  routes: RoutesRepository;
  claims: RouteClaims;
  events: EventsRepository;
  health: HealthManager;
  releases: ReleasesRepository;
  directorySecret: string;
  quota?: QuotaGuard;
}

/**
 * The seeds' get_parameters / start_common: an app whose command has `{param}` placeholders is
 * launched again as a "similar app" with other values. It shares the droplet, so nothing stages.
 */
export function similarRouter(deps: SimilarDeps): Router {
  const { settings, apps, actual, routes, claims, events, health, releases, directorySecret } = deps;
  const router = Router();

  router.get('/v1/apps/:name/parameters', async (req, res) => {
    const app = await loadApp(apps, appName(req), req.caller);
    res.json(parametersOf(app.command ?? app.droplet?.start_command ?? null));
  });

  router.post('/v1/apps/:name/similar', express.json({ limit: '64kb' }), async (req, res) => {
    await (deps.quota ? deps.quota.serialize(req.caller, () => createSimilar(req, res)) : createSimilar(req, res));
  });

  async function createSimilar(req: express.Request, res: express.Response): Promise<void> {
    const source = await loadApp(apps, appName(req), req.caller);
    const body = SimilarBody.parse(req.body ?? {});
    if (!source.droplet || !source.package) throw new NapError(409, 'not_staged', `app ${source.name} has no droplet yet: push it first`);
    const command = fillParameters(source.command ?? source.droplet.start_command, body.params);
    let name = body.name;
    if (!name) {
      const taken = new Set((await apps.list()).map((a) => a.name));
      for (let n = 1; !name; n++) if (!taken.has(`${source.name}-${n}`)) name = `${source.name}-${n}`;
    }
    const now = new Date().toISOString();
    const app: AppRecord = {
      ...structuredClone(source),
      id: randomUUID(),
      name,
      owner: req.caller?.name ?? 'admin',
      command,
      routes: [`${name}.${settings.domain}`],
      state: 'STARTED',
      version: randomUUID(),
      staging: null,
      placement_error: null,
      created_at: now,
      updated_at: now,
    };
    // A copy starts at once with the source's instances and memory: all of it comes from the caller's quota.
    await deps.quota?.check(req.caller, null, app);
    const takenRoute = await claims.claimAll(req.caller, app.id, app.routes);
    if (takenRoute) throw conflict('route_taken', `the route ${takenRoute} belongs to another app: give another name`);
    if (!(await apps.create(app))) {
      await routes.release(app.routes[0], app.id);
      throw conflict('app_exists', `app ${name} exists already`);
    }
    await events.record(app.id, 'created', req.caller?.name ?? 'admin', { similar_to: source.name, params: body.params });
    await releases.record(app, req.caller?.name ?? 'admin', `like ${source.name} with ${Object.keys(body.params).join(', ') || 'no parameters'}`);
    await health.poke(name);
    res.status(201).json(presentApp(app, await actual.ofApp(app.id), directorySecret));
  }

  return router;
}
