import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  badRequest,
  type Blobstore,
  type Bus,
  blobKeys,
  msg,
  subjects,
  conflict,
  forbidden,
  NapError,
  notFound,
  type Settings,
} from '@nap/common';
import express, { type Request, Router } from 'express';
import { type AppRecord, needsStaging } from '../apps/app-record.js';
import { AppUpdate } from '../apps/app-update.js';
import { knownProcessTypes, processSpecs, slotKey, WEB } from '../apps/processes.js';
import { z } from 'zod';
import { presentApp, presentInstance } from '../apps/present.js';
import type { HealthManager } from '../health/health-manager.js';
import { type CrashHistory, crashesOf } from '../store/crash-history.js';
import type { ReleasesRepository } from '../store/releases-repository.js';
import type { RoutesRepository } from '../store/routes-repository.js';
import type { RouteClaims } from '../routes/route-claims.js';
import { mayTouch } from '../auth/bearer.js';
import type { Stager } from '../staging/stager.js';
import type { ActualInstancesRepository } from '../store/actual-instances.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { EventsRepository } from '../store/events-repository.js';
import { appName, loadApp } from './app-lookup.js';
import { receiveBody } from './upload.js';
import { acceptPackage, startApp } from '../apps/packages.js';
import type { BuildpackCatalog } from '../buildpacks/catalog.js';
import type { QuotaGuard } from '../quotas/quota-guard.js';

const EnvChanges = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _'), z.string().max(65536).nullable());

export interface AppsRouterDeps {
  bus: Bus;
  settings: Settings;
  apps: AppsRepository;
  actual: ActualInstancesRepository;
  blobs: Blobstore;
  stager: Stager;
  health: HealthManager;
  events: EventsRepository;
  crashes: CrashHistory;
  routes: RoutesRepository;
  /** Every new claim goes through the route policy here. */
  claims: RouteClaims;
  releases: ReleasesRepository;
  directorySecret: string;
  /** Checks an app's buildpack choice (built-in, admin or git URL) at PUT time. */
  buildpacks?: BuildpackCatalog;
  /** Per-user quotas: every change that raises apps, instances or memory asks it first. */
  quota?: QuotaGuard;
  /** The apps' git repositories: one goes with its app. */
  repositories?: { remove(appId: string): Promise<void> };
}

function routeTaken(host: string) {
  return conflict('route_taken', `the route ${host} belongs to another app: choose another host (--route)`);
}

function actorOf(req: Request): string {
  return req.caller?.name ?? 'unknown';
}

/** The fields of an update that changed anything, for the `updated` event. */
function changedFields(before: AppRecord, after: AppRecord): string[] {
  const fields = ['memory_mb', 'disk_mb', 'command', 'buildpack', 'env', 'routes', 'health_check', 'stack'] as const;
  const changed: string[] = fields.filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]));
  if (JSON.stringify(whatRunsOf(before.processes)) !== JSON.stringify(whatRunsOf(after.processes))) changed.push('processes');
  return changed;
}


/** Fields that change what runs: a change makes a new version, whose instances replace the old ones. */
function changesWhatRuns(before: AppRecord, after: AppRecord): boolean {
  return (
    before.command !== after.command ||
    before.memory_mb !== after.memory_mb ||
    before.disk_mb !== after.disk_mb ||
    JSON.stringify(before.env) !== JSON.stringify(after.env) ||
    JSON.stringify(before.routes) !== JSON.stringify(after.routes) ||
    JSON.stringify(before.health_check) !== JSON.stringify(after.health_check) ||
    JSON.stringify(whatRunsOf(before.processes)) !== JSON.stringify(whatRunsOf(after.processes))
  );
}

/** A process type's command and memory change what runs; its instance count only how many. */
function whatRunsOf(processes: AppRecord['processes']) {
  return Object.entries(processes ?? {})
    .filter(([, p]) => p.command !== null || p.memory_mb !== null)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, p]) => [type, p.command, p.memory_mb]);
}

/** Instance counts by process type, for `scaled` events. */
function scaleOf(app: AppRecord): Record<string, number> {
  return Object.fromEntries(processSpecs(app).map((s) => [s.type, s.instances]));
}

/** Scaling a type the app does not have would wait forever for a command: refuse it while the droplet says which types exist. */
function checkProcessTypes(app: AppRecord, update: AppUpdate): void {
  // New bits may bring a new Procfile: the types are checked against the droplet they will have.
  if (!update.processes || !app.droplet || needsStaging(app)) return;
  const known = knownProcessTypes(app);
  for (const [type, p] of Object.entries(update.processes)) {
    if (known.includes(type) || p.command || p.instances === 0) continue;
    throw badRequest(
      'unknown_process_type',
      `app ${app.name} has no process type ${type} (it has ${known.join(', ')}): add a "${type}:" line to the Procfile, or give the type a command`,
    );
  }
}

function applyUpdate(app: AppRecord, update: AppUpdate): void {
  if (update.instances !== undefined) app.instances = update.instances;
  if (update.memory !== undefined) app.memory_mb = update.memory;
  if (update.disk !== undefined) app.disk_mb = update.disk;
  if (update.command !== undefined) app.command = update.command;
  if (update.buildpack !== undefined) app.buildpack = update.buildpack;
  if (update.env !== undefined) app.env = update.env;
  if (update.routes !== undefined) app.routes = [...new Set(update.routes)];
  if (update.health_check !== undefined) app.health_check = { ...app.health_check, ...update.health_check };
  if (update.stack !== undefined) app.stack = update.stack;
  for (const [type, p] of Object.entries(update.processes ?? {})) {
    if (type === WEB) {
      applyUpdate(app, { instances: p.instances, memory: p.memory, command: p.command });
      continue;
    }
    const config = { ...(app.processes?.[type] ?? { instances: 0, memory_mb: null, command: null }) };
    if (p.instances !== undefined) config.instances = p.instances;
    if (p.memory !== undefined) config.memory_mb = p.memory;
    if (p.command !== undefined) config.command = p.command;
    app.processes = { ...app.processes, [type]: config };
  }
}

export function appsRouter(deps: AppsRouterDeps): Router {
  const { bus, settings, apps, actual, blobs, stager, health, events, crashes, routes, claims, releases, directorySecret } = deps;
  const router = Router();
  // The biggest valid update (64 KB of env, 100 routes, 21 commands of 8 KB) is about 300 KB.
  const json = express.json({ limit: '512kb' });

  const loadFor = (req: Request, name: string) => loadApp(apps, name, req.caller);

  async function present(app: AppRecord) {
    return presentApp(app, await actual.ofApp(app.id), directorySecret);
  }

  router.get('/v1/apps', async (req, res) => {
    const all = await apps.list((a) => mayTouch(req.caller, a.owner));
    const instances = await actual.byApp();
    res.json(all.map((a) => presentApp(a, instances.get(a.id) ?? [], directorySecret)));
  });

  router.get('/v1/apps/:name', async (req, res) => {
    res.json(await present(await loadFor(req, appName(req))));
  });

  router.put('/v1/apps/:name', json, async (req, res) => {
    await (deps.quota ? deps.quota.serialize(req.caller, () => putApp(req, res)) : putApp(req, res));
  });

  async function putApp(req: Request, res: express.Response): Promise<void> {
    const name = appName(req);
    const update = AppUpdate.parse(req.body ?? {});
    if (update.buildpack) await deps.buildpacks?.check(update.buildpack, req.caller);
    const existing = await apps.get(name);
    if (existing && !mayTouch(req.caller, existing.owner)) throw forbidden(`app ${name} belongs to another user`);
    if (existing) checkProcessTypes(existing, update);
    if (!existing) {
      const now = new Date().toISOString();
      const app: AppRecord = {
        id: randomUUID(),
        name,
        owner: actorOf(req),
        instances: 1,
        memory_mb: 256,
        disk_mb: 1024,
        command: null,
        buildpack: null,
        env: {},
        routes: [`${name}.${settings.domain}`],
        health_check: { type: 'port', timeout_s: 60 },
        stack: 'bookworm',
        state: 'STOPPED',
        version: randomUUID(),
        package: null,
        package_state: 'PENDING',
        staging: null,
        droplet: null,
        created_at: now,
        updated_at: now,
      };
      applyUpdate(app, update);
      await deps.quota?.check(req.caller, null, app);
      const taken = await claims.claimAll(req.caller, app.id, app.routes);
      if (taken) throw routeTaken(taken);
      if (!(await apps.create(app))) {
        await Promise.all(app.routes.map((h) => routes.release(h, app.id)));
        throw conflict('app_exists', `app ${name} was just created by someone else`);
      }
      await events.record(app.id, 'created', actorOf(req), { instances: app.instances, memory_mb: app.memory_mb });
      res.status(201).json(await present(app));
      return;
    }
    const added = (update.routes ?? []).filter((h) => !existing.routes.includes(h));
    const taken = await claims.claimAll(req.caller, existing.id, added);
    if (taken) throw routeTaken(taken);
    let before = existing;
    let updated: AppRecord | null;
    try {
      updated = await apps.update(name, async (app) => {
        before = structuredClone(app);
        applyUpdate(app, update);
        // Against the app as it is in etcd now: the write below lands only if nobody changed it since.
        await deps.quota?.check(req.caller, before, app);
        if (changesWhatRuns(before, app)) app.version = randomUUID();
      });
    } catch (err) {
      // The routes this update claimed are not the app's after all.
      for (const host of added) await routes.release(host, existing.id);
      throw err;
    }
    if (!updated) throw notFound('app_not_found', `app ${name} was just deleted`);
    const existingNow = updated;
    for (const host of before.routes) if (!existingNow.routes.includes(host)) await routes.release(host, existingNow.id);
    const [scaleBefore, scaleAfter] = [scaleOf(before), scaleOf(existingNow)];
    for (const [type, to] of Object.entries(scaleAfter)) {
      const from = scaleBefore[type] ?? 0;
      if (from === to) continue;
      await events.record(existingNow.id, 'scaled', actorOf(req), type === WEB ? { from, to } : { process_type: type, from, to });
    }
    const changed = changedFields(before, existingNow);
    if (changed.length > 0) await events.record(existingNow.id, 'updated', actorOf(req), { fields: changed });
    if (changesWhatRuns(before, existingNow)) await releases.record(existingNow, actorOf(req), `changed ${changed.join(', ')}`);
    await health.poke(name);
    res.json(await present(existingNow));
  }

  router.put('/v1/apps/:name/bits', async (req, res) => {
    const name = appName(req);
    const app = await loadFor(req, name);
    const dir = await mkdtemp(join(tmpdir(), 'nap-bits-'));
    try {
      const file = join(dir, 'bits.tgz');
      await receiveBody(req, file, settings.uploadLimitMb * 1024 * 1024);
      res.json(await acceptPackage(apps, blobs, app, file));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  router.post('/v1/apps/:name/start', async (req, res) => {
    const name = appName(req);
    await loadFor(req, name);
    res.json(await present(await startApp({ apps, stager, events, health, quota: deps.quota }, name, actorOf(req), req.caller)));
  });

  // A new version of the same droplet and configuration: the health manager replaces the
  // instances one at a time, each new one RUNNING before an old one stops.
  router.post('/v1/apps/:name/restart', async (req, res) => {
    const name = appName(req);
    const app = await loadFor(req, name);
    if (!app.package) throw new NapError(409, 'no_bits', `app ${name} has no bits yet: run nap push ${name}`);
    if (app.state !== 'STARTED' || needsStaging(app)) {
      throw new NapError(409, 'not_started', `app ${name} is not running a current droplet: use nap start ${name}`);
    }
    const restarted = await apps.update(name, (a) => {
      a.version = randomUUID();
    });
    await events.record(app.id, 'started', actorOf(req), { restart: true });
    await health.poke(name);
    res.json(await present(restarted ?? app));
  });

  router.post('/v1/apps/:name/stop', async (req, res) => {
    const name = appName(req);
    await loadFor(req, name);
    let wasStarted = false;
    const app = await apps.update(name, (a) => {
      wasStarted = a.state === 'STARTED';
      a.state = 'STOPPED';
    });
    if (!app) throw notFound('app_not_found', `app ${name} does not exist`);
    if (wasStarted) await events.record(app.id, 'stopped', actorOf(req));
    await health.poke(name);
    res.json(await present(app));
  });

  router.get('/v1/apps/:name/instances', async (req, res) => {
    const app = await loadFor(req, appName(req));
    const now = Date.now();
    const history = await crashes.ofApp(app.id);
    res.json((await actual.ofApp(app.id)).map((i) => presentInstance(i, crashesOf(history.get(slotKey(i.process_type, i.index)), i.version)?.count ?? 0, now)));
  });

  // Everything goes: instances (stopped first, so nothing restarts them), routes, bits, droplets
  // and every etcd record of the app. The name is free again.
  router.delete('/v1/apps/:name', async (req, res) => {
    const name = appName(req);
    const app = await loadFor(req, name);
    // With its route claims, in one transaction. Should the stop below be lost, the health
    // manager's sweep stops the instances of an app that no longer exists.
    await apps.delete(name);
    bus.publish(subjects.deaStop, msg.DeaStop, { app_id: app.id });
    await crashes.deleteAll(app.id);
    await events.deleteAll(app.id);
    await releases.deleteAll(app.id);
    // Similar apps share their source's droplet and package: those stay while anyone uses them.
    const inUse = new Set((await apps.list()).flatMap((a) => [a.package?.key, a.droplet?.key]));
    for (const key of [...(await blobs.list(`packages/${app.id}/`)), ...(await blobs.list(`droplets/${app.id}/`))]) {
      if (!inUse.has(key)) await blobs.delete(key);
    }
    await blobs.delete(blobKeys.buildCache(app.id));
    // Its git history is the app's too: nobody may clone it once the app is gone.
    await deps.repositories?.remove(app.id);
    res.json({ name, deleted: true, by: actorOf(req) });
  });

  router.get('/v1/apps/:name/env', async (req, res) => {
    const app = await loadFor(req, appName(req));
    res.json(app.env);
  });

  // Merges: a key set to null is removed. A change of env is a new version, rolled out one instance at a time.
  router.put('/v1/apps/:name/env', json, async (req, res) => {
    const name = appName(req);
    await loadFor(req, name);
    const changes = EnvChanges.parse(req.body ?? {});
    const app = await apps.update(name, (a) => {
      const env = { ...a.env };
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) delete env[k];
        else env[k] = v;
      }
      if (JSON.stringify(env) === JSON.stringify(a.env)) return false;
      AppUpdate.parse({ env });
      a.env = env;
      a.version = randomUUID();
    });
    if (!app) throw notFound('app_not_found', `app ${name} was just deleted`);
    await events.record(app.id, 'updated', actorOf(req), { fields: ['env'], keys: Object.keys(changes) });
    await releases.record(app, actorOf(req), `env ${Object.entries(changes).map(([k, v]) => (v === null ? `-${k}` : k)).join(', ')}`);
    await health.poke(name);
    res.json(app.env);
  });

  router.get('/v1/apps/:name/events', async (req, res) => {
    const app = await loadFor(req, appName(req));
    res.json(await events.list(app.id));
  });

  return router;
}
