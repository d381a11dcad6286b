import { randomUUID } from 'node:crypto';
import { badRequest, type Blobstore, blobKeys, conflict, forbidden, MAX_VCAP_SERVICES_BYTES, NapError, notFound, type msg, type ServiceBinding, vcapServicesOf } from '@nap/common';
import { type Caller, mayTouch } from '../auth/bearer.js';
import type { RouteClaims } from '../routes/route-claims.js';
import type { AlongWith, AppsRepository } from '../store/apps-repository.js';
import type { CrashHistory } from '../store/crash-history.js';
import type { EventsRepository, EventType } from '../store/events-repository.js';
import type { ReleasesRepository } from '../store/releases-repository.js';
import type { RoutesRepository } from '../store/routes-repository.js';
import { inspectUpload } from './package-check.js';
import { loadApp } from './app-access.js';
import { type AppRecord, needsStaging, stagingAbandoned } from './app-record.js';
import { AppUpdate } from './app-update.js';
import { applyUpdate, changedFields, changesWhatRuns, checkProcessTypes, envAfter, newApp, rollBack, scaledEvents } from './update-rules.js';

/** Per-user quotas (quotas/quota-guard.ts): every change that can raise what a developer holds asks it first. */
export interface QuotaCheck {
  check(caller: Caller | undefined, before: AppRecord | null, after: AppRecord | null): Promise<void>;
  /** One quota-checked change per user at a time, so two cannot both fit in the last slot. */
  serialize<T>(caller: Caller | undefined, work: () => Promise<T>): Promise<T>;
}

export interface LifecycleDeps {
  apps: AppsRepository;
  events: EventsRepository;
  releases: ReleasesRepository;
  routes: RoutesRepository;
  /** Every new route claim goes through the route policy here. */
  claims: RouteClaims;
  crashes: CrashHistory;
  blobs: Blobstore;
  /** The shared domain: a new app's first route is <name>.<domain>. */
  domain: string;
  quota?: QuotaCheck;
  /** Checks an app's buildpack choice (built-in, admin or git URL) when it is set (buildpacks/catalog.ts). */
  buildpacks?: { check(buildpack: string, caller: Caller | undefined): Promise<void> };
  /** Stages the app's current package (staging/stager.ts), recording the outcome through this lifecycle. */
  stage(app: AppRecord, actor: string): Promise<AppRecord>;
  /** Asks the health manager to converge the app now rather than at its next sweep. */
  poke(name: string): Promise<void>;
  /** Tells every DEA to stop the app's instances (dea.stop). */
  stopInstances(appId: string): void;
  /** The apps' git repositories: one goes with its app. */
  repositories?: { remove(appId: string): Promise<void> };
  /** The apps' one-off tasks: their records go with the app. */
  tasks?: { deleteAll(appId: string): Promise<void> };
}

type Events = [EventType, Record<string, unknown>][];

/** Who a change is recorded as: the caller, or the admin when nap itself acts for one (git push as its pusher). */
export function actorOf(caller: Caller | undefined): string {
  return caller?.name ?? 'admin';
}

function routeTaken(host: string) {
  return conflict('route_taken', `the route ${host} belongs to another app: choose another host (--route)`);
}

/** What a staging came to, as recordStagingResult applied it. */
export type StagingOutcome = { outcome: 'staged' | 'superseded'; app: AppRecord } | { outcome: 'failed'; app: AppRecord; error: string };

/**
 * The app lifecycle: every change of an app goes through here, and nothing else in the controller
 * writes app records (test/app-writers.test.ts keeps it so). Each change is one etcd transaction
 * with the events and the release it makes, recorded as the real actor; the rules themselves are
 * pure functions in update-rules.ts. The API routers parse, call this, and present.
 */
export class AppLifecycle {
  constructor(private readonly deps: LifecycleDeps) {}

  /** The events and (when what runs changed and there is a droplet) the release of a change, for its transaction. */
  private async along(app: AppRecord, actor: string, events: Events, release?: string): Promise<AlongWith> {
    const puts = this.deps.events.entries(app.id, actor, events);
    if (release === undefined || !app.droplet) return { puts };
    const [key, value] = this.deps.releases.entry({ ...app, droplet: app.droplet }, await this.deps.releases.nextVersion(app.id), actor, release);
    return { puts: [...puts, [key, value]], absent: [key] };
  }

  private async changed(app: AppRecord): Promise<AppRecord> {
    await this.deps.events.trim(app.id);
    await this.deps.poke(app.name);
    return app;
  }

  private serialized<T>(caller: Caller | undefined, work: () => Promise<T>): Promise<T> {
    return this.deps.quota ? this.deps.quota.serialize(caller, work) : work();
  }

  /** The app, if the caller may touch it: 404 when there is none, 403 when it is someone else's. */
  load(name: string, caller: Caller | undefined): Promise<AppRecord> {
    return loadApp(this.deps.apps, name, caller);
  }

  /** PUT /v1/apps/:name: creates the app, or changes it; a change of what runs is a new version and a release. */
  put(caller: Caller | undefined, name: string, update: AppUpdate): Promise<{ app: AppRecord; created: boolean }> {
    return this.serialized(caller, async () => {
      if (update.buildpack) await this.deps.buildpacks?.check(update.buildpack, caller);
      const existing = await this.deps.apps.get(name);
      if (existing && !mayTouch(caller, existing.owner)) throw forbidden(`app ${name} belongs to another user`);
      if (!existing) return { app: await this.create(caller, name, update), created: true };
      checkProcessTypes(existing, update);
      return { app: await this.update(caller, existing, update), created: false };
    });
  }

  private async create(caller: Caller | undefined, name: string, update: AppUpdate): Promise<AppRecord> {
    const { apps, claims, routes, quota } = this.deps;
    const actor = actorOf(caller);
    const app = newApp(name, actor, this.deps.domain);
    applyUpdate(app, update);
    await quota?.check(caller, null, app);
    const taken = await claims.claimAll(caller, app.id, app.routes);
    if (taken) throw routeTaken(taken);
    if (!(await apps.create(app, await this.along(app, actor, [['created', { instances: app.instances, memory_mb: app.memory_mb }]])))) {
      await Promise.all(app.routes.map((h) => routes.release(h, app.id)));
      throw conflict('app_exists', `app ${name} was just created by someone else`);
    }
    return app;
  }

  private async update(caller: Caller | undefined, existing: AppRecord, update: AppUpdate): Promise<AppRecord> {
    const { apps, claims, routes, quota } = this.deps;
    const actor = actorOf(caller);
    const added = (update.routes ?? []).filter((h) => !existing.routes.includes(h));
    const taken = await claims.claimAll(caller, existing.id, added);
    if (taken) throw routeTaken(taken);
    let before = existing;
    let updated: AppRecord | null;
    try {
      updated = await apps.update(existing.name, async (app) => {
        before = structuredClone(app);
        applyUpdate(app, update);
        // Against the app as it is in etcd now: the write lands only if nobody changed it since.
        await quota?.check(caller, before, app);
        const runs = changesWhatRuns(before, app);
        if (runs) app.version = randomUUID();
        const changed = changedFields(before, app);
        const events: Events = scaledEvents(before, app).map((d) => ['scaled', d]);
        if (changed.length > 0) events.push(['updated', { fields: changed }]);
        return this.along(app, actor, events, runs ? `changed ${changed.join(', ')}` : undefined);
      });
    } catch (err) {
      // The routes this update claimed are not the app's after all.
      for (const host of added) await routes.release(host, existing.id);
      throw err;
    }
    if (!updated) throw notFound('app_not_found', `app ${existing.name} was just deleted`);
    for (const host of before.routes) if (!updated.routes.includes(host)) await routes.release(host, updated.id);
    return this.changed(updated);
  }

  /** PUT /v1/apps/:name/env: merges (null removes a key); a change is a new version, rolled out one instance at a time. */
  async setEnv(caller: Caller | undefined, name: string, changes: Record<string, string | null>): Promise<AppRecord> {
    await this.load(name, caller);
    const app = await this.deps.apps.update(name, (a) => {
      const env = envAfter(a.env, changes);
      if (JSON.stringify(env) === JSON.stringify(a.env)) return false;
      AppUpdate.parse({ env });
      a.env = env;
      a.version = randomUUID();
      const description = `env ${Object.entries(changes).map(([k, v]) => (v === null ? `-${k}` : k)).join(', ')}`;
      return this.along(a, actorOf(caller), [['updated', { fields: ['env'], keys: Object.keys(changes) }]], description);
    });
    if (!app) throw notFound('app_not_found', `app ${name} was just deleted`);
    return this.changed(app);
  }

  /**
   * Binds a service (a copy of its credentials goes into the app) or unbinds it (`binding` null):
   * what runs changes, so the instances are replaced one at a time, as for an env change.
   */
  async setServiceBinding(caller: Caller | undefined, name: string, service: string, binding: ServiceBinding | null): Promise<AppRecord> {
    await this.load(name, caller);
    const app = await this.deps.apps.update(name, (a) => {
      const others = (a.services ?? []).filter((b) => b.name !== service);
      const had = others.length !== (a.services ?? []).length;
      if (!binding && !had) throw notFound('binding_not_found', `${service} is not bound to ${name}`);
      if (binding && had && JSON.stringify(a.services?.find((b) => b.name === service)?.credentials) === JSON.stringify(binding.credentials)) return false;
      a.services = binding ? [...others, binding] : others;
      if (Buffer.byteLength(vcapServicesOf(a.services)) > MAX_VCAP_SERVICES_BYTES) throw badRequest('too_many_services', `the services bound to ${name} would be over ${MAX_VCAP_SERVICES_BYTES / 1024} KB of VCAP_SERVICES`);
      a.version = randomUUID();
      return this.along(a, actorOf(caller), [['updated', { fields: ['services'], service, bound: Boolean(binding) }]], `${binding ? 'bind' : 'unbind'} ${service}`);
    });
    if (!app) throw notFound('app_not_found', `app ${name} was just deleted`);
    return this.changed(app);
  }

  /** A package (gzip'd tar of the app) becomes the app's bits, stored by the hash of its content. The same content changes nothing and will not stage. */
  async acceptBits(app: AppRecord, file: string): Promise<{ package_hash: string; changed: boolean }> {
    const hash = await inspectUpload(file);
    const changed = needsStaging({ ...app, package: { hash, key: '', uploaded_at: '' } });
    if (app.package?.hash !== hash) {
      const key = blobKeys.package(app.id, hash);
      await this.deps.blobs.putFile(key, file);
      // Older packages stay for rollback; releases.prune lets them go with their droplets.
      await this.deps.apps.update(app.name, (fresh) => {
        fresh.package = { hash, key, uploaded_at: new Date().toISOString() };
        fresh.package_state = changed ? 'PENDING' : 'STAGED';
      });
    }
    return { package_hash: hash, changed };
  }

  /** Start: staging first when the bits (or the buildpack) changed since the droplet. */
  async start(caller: Caller | undefined, name: string): Promise<AppRecord> {
    let app = await this.load(name, caller);
    if (!app.package) throw new NapError(409, 'no_bits', `app ${name} has no bits yet: run nap push ${name}`);
    if (app.state !== 'STARTED') {
      // A stopped app holds no instances: starting it is what takes them from the owner's quota.
      const markStarted = () =>
        this.deps.apps.update(name, async (a) => {
          if (a.state === 'STARTED') return false;
          await this.deps.quota?.check(caller, a, { ...a, state: 'STARTED' });
          a.state = 'STARTED';
          return this.along(a, actorOf(caller), [['started', {}]]);
        });
      app = (await this.serialized(caller, markStarted)) ?? app;
    }
    if (needsStaging(app)) app = await this.deps.stage(app, actorOf(caller));
    await this.deps.poke(name);
    return (await this.deps.apps.get(name)) ?? app;
  }

  /** A new version of the same droplet and configuration: the instances are replaced one at a time. */
  async restart(caller: Caller | undefined, name: string): Promise<AppRecord> {
    const app = await this.load(name, caller);
    if (!app.package) throw new NapError(409, 'no_bits', `app ${name} has no bits yet: run nap push ${name}`);
    if (app.state !== 'STARTED' || needsStaging(app)) {
      throw new NapError(409, 'not_started', `app ${name} is not running a current droplet: use nap start ${name}`);
    }
    const restarted = await this.deps.apps.update(name, (a) => {
      a.version = randomUUID();
      return this.along(a, actorOf(caller), [['started', { restart: true }]]);
    });
    return this.changed(restarted ?? app);
  }

  async stop(caller: Caller | undefined, name: string): Promise<AppRecord> {
    await this.load(name, caller);
    const app = await this.deps.apps.update(name, (a) => {
      const wasStarted = a.state === 'STARTED';
      a.state = 'STOPPED';
      return this.along(a, actorOf(caller), wasStarted ? [['stopped', {}]] : []);
    });
    if (!app) throw notFound('app_not_found', `app ${name} does not exist`);
    return this.changed(app);
  }

  /**
   * Everything goes: instances (stopped first, so nothing restarts them), routes, bits, droplets
   * and every etcd record of the app. The name is free again.
   */
  async remove(caller: Caller | undefined, name: string): Promise<void> {
    const { apps, blobs, crashes, events, releases } = this.deps;
    const app = await this.load(name, caller);
    // With its route claims, in one transaction. Should the stop below be lost, the health
    // manager's sweep stops the instances of an app that no longer exists.
    await apps.delete(name);
    this.deps.stopInstances(app.id);
    await crashes.deleteAll(app.id);
    await events.deleteAll(app.id);
    await releases.deleteAll(app.id);
    await this.deps.tasks?.deleteAll(app.id);
    // Similar apps share their source's droplet and package: those stay while anyone uses them.
    const inUse = new Set((await apps.list()).flatMap((a) => [a.package?.key, a.droplet?.key]));
    for (const key of [...(await blobs.list(`packages/${app.id}/`)), ...(await blobs.list(`droplets/${app.id}/`))]) {
      if (!inUse.has(key)) await blobs.delete(key);
    }
    await blobs.delete(blobKeys.buildCache(app.id));
    // Its git history is the app's too: nobody may clone it once the app is gone.
    await this.deps.repositories?.remove(app.id);
  }

  /** Back to release `version`'s code and configuration together, as a new release. */
  rollback(caller: Caller | undefined, name: string, version: number): Promise<AppRecord> {
    return this.serialized(caller, async () => {
      const { apps, claims, routes, releases, quota } = this.deps;
      const app = await this.load(name, caller);
      const target = await releases.get(app.id, version);
      if (!target) throw notFound('release_not_found', `app ${name} has no release v${version}: see nap releases ${name}`);
      if (!(await this.deps.blobs.has(target.droplet.key))) {
        throw new NapError(409, 'droplet_pruned', `the droplet of v${version} was pruned (NAP_RELEASES_KEPT): roll back to a later release`);
      }
      // An older release may have had more memory per instance: that comes from the owner's quota too.
      // Checked first so that a refusal claims no route, and again inside the write against the
      // record as it is then (a start may have landed in between).
      const rolled = structuredClone(app);
      rollBack(rolled, target);
      await quota?.check(caller, app, rolled);
      const taken = await claims.claimAll(caller, app.id, target.config.routes, app.routes);
      if (taken) throw conflict('route_taken', `v${version} had the route ${taken}, which another app holds now`);
      let dropped: string[] = [];
      let updated: AppRecord | null;
      try {
        updated = await apps.update(name, async (a) => {
          const before = structuredClone(a);
          dropped = a.routes.filter((h) => !target.config.routes.includes(h));
          rollBack(a, target);
          await quota?.check(caller, before, a);
          return this.along(a, actorOf(caller), [['updated', { rollback_to: version }]], `rollback to v${version}`);
        });
      } catch (err) {
        // The release's routes this rollback claimed are not the app's after all.
        for (const h of target.config.routes.filter((r) => !app.routes.includes(r))) await routes.release(h, app.id);
        throw err;
      }
      if (!updated) throw notFound('app_not_found', `app ${name} was just deleted`);
      for (const h of dropped) await routes.release(h, app.id);
      return this.changed(updated);
    });
  }

  /**
   * A similar app: a copy of `source` under `name` (or <source>-<n>) with its own command, started at
   * once on the source's droplet, so nothing stages (the seeds' start_common).
   */
  createSimilar(caller: Caller | undefined, source: AppRecord, name: string | undefined, command: string, params: Record<string, string>): Promise<AppRecord> {
    return this.serialized(caller, async () => {
      const { apps, claims, routes, quota } = this.deps;
      if (!name) {
        const taken = new Set((await apps.list()).map((a) => a.name));
        for (let n = 1; !name; n++) if (!taken.has(`${source.name}-${n}`)) name = `${source.name}-${n}`;
      }
      const actor = actorOf(caller);
      const fresh = newApp(name, actor, this.deps.domain);
      const app: AppRecord = {
        ...structuredClone(source),
        id: fresh.id,
        name,
        owner: actor,
        command,
        routes: fresh.routes,
        state: 'STARTED',
        version: fresh.version,
        staging: null,
        placement_error: null,
        created_at: fresh.created_at,
        updated_at: fresh.updated_at,
      };
      // A copy starts at once with the source's instances and memory: all of it comes from the caller's quota.
      await quota?.check(caller, null, app);
      const takenRoute = await claims.claimAll(caller, app.id, app.routes);
      if (takenRoute) throw conflict('route_taken', `the route ${takenRoute} belongs to another app: give another name`);
      const description = `like ${source.name} with ${Object.keys(params).join(', ') || 'no parameters'}`;
      if (!(await apps.create(app, await this.along(app, actor, [['created', { similar_to: source.name, params }]], description)))) {
        await routes.release(app.routes[0], app.id);
        throw conflict('app_exists', `app ${name} exists already`);
      }
      return this.changed(app);
    });
  }

  // What staging (staging/stager.ts) and convergence (health/converger.ts) record of an app.

  /** A DEA took the staging: the app is STAGING until the result comes. */
  async stagingBegan(name: string, staging: NonNullable<AppRecord['staging']>): Promise<void> {
    await this.deps.apps.update(name, (a) => {
      a.package_state = 'STAGING';
      a.staging = staging;
    });
  }

  /** No DEA had room after a first try: the app waits for bits to be staged again. */
  async stagingUnplaced(name: string, taskId: string): Promise<void> {
    await this.deps.apps.update(name, (a) => {
      if (a.staging?.task_id !== taskId) return false;
      a.package_state = 'PENDING';
      a.staging = null;
    });
  }

  async stagingLogAt(name: string, taskId: string, logUrl: string): Promise<void> {
    await this.deps.apps.update(name, (a) => {
      if (a.staging?.task_id !== taskId) return false;
      a.staging.log_url = logUrl;
    });
  }

  /**
   * The result of staging `taskId`, applied to the app as it is now (it may have been scaled,
   * changed or deleted meanwhile) in one transaction with its event and release. Bits pushed again
   * while it staged supersede it.
   */
  async recordStagingResult(
    name: string,
    staging: { taskId: string; packageHash: string; version: string; versionAtStart: string },
    result: msg.StagingSucceeded | msg.StagingFailed,
    actor: string,
  ): Promise<StagingOutcome | null> {
    let outcome = 'superseded' as StagingOutcome['outcome'];
    let error = '';
    const app = await this.deps.apps.update(name, (a) => {
      if (a.staging?.task_id !== staging.taskId || a.package?.hash !== staging.packageHash) {
        outcome = 'superseded';
        return false;
      }
      if ('error' in result || (!result.start_command && !a.command)) {
        outcome = 'failed';
        error = 'error' in result ? result.error : 'the app has no start command: add a Procfile with a web: line (or a start script), or push with -c COMMAND';
        a.staging.error = error;
        a.package_state = 'FAILED';
        return this.along(a, actor, [['staging_failed', { task_id: staging.taskId, error }]]);
      }
      outcome = 'staged';
      a.staging.error = null;
      a.droplet = {
        hash: result.droplet_hash,
        key: result.droplet_key,
        source_hash: staging.packageHash,
        start_command: result.start_command,
        detected_buildpack: result.detected_buildpack,
        buildpack_requested: a.buildpack,
        staged_at: new Date().toISOString(),
        droplet_type: result.droplet_type,
        stack_variant: result.stack_variant,
        image_id: result.image_id,
        process_types: result.process_types,
      };
      a.package_state = 'STAGED';
      // Configuration changed while staging: instance 0 started with the old one, so it must be replaced too.
      a.version = a.version === staging.versionAtStart ? staging.version : randomUUID();
      const detail = { task_id: staging.taskId, droplet_hash: result.droplet_hash, buildpack: result.detected_buildpack, start_command: result.start_command };
      return this.along(a, actor, [['staged', detail]], `staged droplet ${result.droplet_hash.slice(0, 12)} (${result.detected_buildpack})`);
    });
    if (!app) return null;
    if (outcome !== 'superseded') await this.deps.events.trim(app.id);
    return outcome === 'failed' ? { outcome, app, error } : { outcome, app };
  }

  /** A staging whose controller died will never report: the app says so, and a push starts again. */
  async abandonStaging(name: string, stagingTimeoutS: number, now: number): Promise<void> {
    await this.deps.apps.update(name, (a) => {
      if (!stagingAbandoned(a, stagingTimeoutS, now)) return false;
      a.package_state = 'FAILED';
      a.staging!.error = 'staging was interrupted (its controller stopped): push again';
    });
  }

  /** Why instances are missing (null: all placed), with a `placement_failed` event when there is a reason. */
  async notePlacement(app: AppRecord, error: string | null, memoryMb: number): Promise<void> {
    if ((app.placement_error ?? null) === error) return;
    await this.deps.apps.update(app.name, (fresh) => {
      if ((fresh.placement_error ?? null) === error) return false;
      fresh.placement_error = error;
      return this.along(fresh, 'system', error ? [['placement_failed', { reason: error, memory_mb: memoryMb }]] : []);
    });
    if (error) await this.deps.events.trim(app.id);
  }
}
