import { randomUUID } from 'node:crypto';
import { conflict, NapError, notFound } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import type { AppRecord } from '../apps/app-record.js';
import { presentApp } from '../apps/present.js';
import type { HealthManager } from '../health/health-manager.js';
import type { ActualInstancesRepository } from '../store/actual-instances.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { Blobstore } from '@nap/common';
import type { EventsRepository } from '../store/events-repository.js';
import type { Release, ReleasesRepository } from '../store/releases-repository.js';
import type { RoutesRepository } from '../store/routes-repository.js';
import type { RouteClaims } from '../routes/route-claims.js';
import { appName, loadApp } from './app-lookup.js';
import type { QuotaGuard } from '../quotas/quota-guard.js';

const Rollback = z
  .object({
    version: z.union([z.number().int().positive(), z.string().regex(/^v?\d+$/, 'a release such as 3 or v3').transform((v) => Number(v.replace(/^v/, '')))]),
  })
  .strict();

export interface ReleasesDeps {
  apps: AppsRepository;
  actual: ActualInstancesRepository;
  releases: ReleasesRepository;
  routes: RoutesRepository;
  claims: RouteClaims;
  events: EventsRepository;
  blobs: Blobstore;
  health: HealthManager;
  directorySecret: string;
  quota?: QuotaGuard;
}

/** Each type's command and memory as the release had them, its instance count as it is now. */
function rolledBackProcesses(current: AppRecord['processes'], released: Release['config']['processes']): AppRecord['processes'] {
  const types = new Set([...Object.keys(current ?? {}), ...Object.keys(released ?? {})]);
  return Object.fromEntries(
    [...types].map((type) => [
      type,
      { instances: current?.[type]?.instances ?? 0, command: released?.[type]?.command ?? null, memory_mb: released?.[type]?.memory_mb ?? null },
    ]),
  );
}

export function releasesRouter(deps: ReleasesDeps): Router {
  const { apps, actual, releases, routes, claims, events, blobs, health, directorySecret } = deps;
  const router = Router();

  router.get('/v1/apps/:name/releases', async (req, res) => {
    const app = await loadApp(apps, appName(req), req.caller);
    res.json(
      (await releases.list(app.id)).map((r) => ({
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
    // Under the caller's quota lock, like every other change that can raise their use.
    await (deps.quota ? deps.quota.serialize(req.caller, () => rollback(req, res)) : rollback(req, res));
  });

  async function rollback(req: express.Request, res: express.Response): Promise<void> {
    const name = appName(req);
    const app = await loadApp(apps, name, req.caller);
    const { version } = Rollback.parse(req.body ?? {});
    const target = await releases.get(app.id, version);
    if (!target) throw notFound('release_not_found', `app ${name} has no release v${version}: see nap releases ${name}`);
    if (!(await blobs.has(target.droplet.key))) throw new NapError(409, 'droplet_pruned', `the droplet of v${version} was pruned (NAP_RELEASES_KEPT): roll back to a later release`);
    const rollBack = (a: AppRecord) => {
      const { processes, ...config } = target.config;
      Object.assign(a, config);
      a.processes = rolledBackProcesses(a.processes, processes);
    };
    // An older release may have had more memory per instance: that comes from the owner's quota too.
    // Checked first so that a refusal claims no route, and again inside the write against the
    // record as it is then (a start may have landed in between).
    const rolled = structuredClone(app);
    rollBack(rolled);
    await deps.quota?.check(req.caller, app, rolled);
    const taken = await claims.claimAll(req.caller, app.id, target.config.routes, app.routes);
    if (taken) throw conflict('route_taken', `v${version} had the route ${taken}, which another app holds now`);
    let dropped: string[] = [];
    let updated: AppRecord | null;
    try {
      updated = await apps.update(name, async (a) => {
        const before = structuredClone(a);
        dropped = a.routes.filter((h) => !target.config.routes.includes(h));
        rollBack(a);
        await deps.quota?.check(req.caller, before, a);
        a.droplet = target.droplet;
        if (target.package) a.package = target.package;
        a.package_state = 'STAGED';
        a.version = randomUUID();
      });
    } catch (err) {
      // The release's routes this rollback claimed are not the app's after all.
      for (const h of target.config.routes.filter((r) => !app.routes.includes(r))) await routes.release(h, app.id);
      throw err;
    }
    if (!updated) throw notFound('app_not_found', `app ${name} was just deleted`);
    for (const h of dropped) await routes.release(h, app.id);
    const actor = req.caller?.name ?? 'admin';
    await releases.record(updated, actor, `rollback to v${version}`);
    await events.record(app.id, 'updated', actor, { rollback_to: version });
    await health.poke(name);
    res.json(presentApp(updated, await actual.ofApp(app.id), directorySecret));
  }

  return router;
}
