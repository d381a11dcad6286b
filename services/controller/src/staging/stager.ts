import { randomUUID } from 'node:crypto';
import { type Bus, channels, type Logger, msg, NapError, NoAnswerError, stagingFailed, unavailable } from '@nap/common';
import { slotKey, WEB } from '../apps/processes.js';
import type { AppRecord } from '../apps/app-record.js';
import type { BuildpackCatalog, ResolvedBuildpacks } from '../buildpacks/catalog.js';
import type { PendingStarts } from '../placement/pending-starts.js';
import type { DeaPool } from '../placement/dea-pool.js';
import { startMessageFor } from '../placement/start-message.js';
import type { AppLifecycle } from '../apps/lifecycle.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { ReleasesRepository } from '../store/releases-repository.js';

/** A DEA that has not accepted a staging by then is taken for gone, and another is asked. */
const ACCEPT_TIMEOUT_MS = 5_000;
const STAGING_ATTEMPTS = 3;

/** Staging gets at least this much memory: npm install of a middling app needs it even when the app does not. */
const STAGING_MIN_MEMORY_MB = 1024;

export interface StagerDeps {
  bus: Bus;
  pool: DeaPool;
  /** Reads only: what staging does to an app is recorded by the lifecycle. */
  apps: AppsRepository;
  lifecycle: Pick<AppLifecycle, 'stagingBegan' | 'stagingUnplaced' | 'stagingLogAt' | 'recordStagingResult'>;
  pending: PendingStarts;
  /** Old droplets go once a new one is staged. */
  releases: ReleasesRepository;
  log: Logger;
  stagingTimeoutS: number;
  /** Resolves admin buildpacks and git URLs for the DEA; without it only `buildpack` is sent. */
  buildpacks?: BuildpackCatalog;
}

/**
 * Asks one DEA to stage an app's current package into a droplet. The DEA also starts instance 0
 * right after (Cloud Foundry's trick: that node already holds the droplet), so a push is served as
 * soon as staging ends.
 */
export class Stager {
  private readonly inFlight = new Map<string, Promise<AppRecord>>();

  constructor(private readonly deps: StagerDeps) {}

  /** Stages unless the droplet already comes from the current package; concurrent calls share one staging. */
  stage(app: AppRecord, actor: string): Promise<AppRecord> {
    if (!app.package) return Promise.reject(new NapError(409, 'no_bits', `app ${app.name} has no bits: run nap push`));
    const key = `${app.id}/${app.package.hash}`;
    let running = this.inFlight.get(key);
    if (!running) {
      running = this.run(app, actor).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, running);
    }
    return running;
  }

  private async run(app: AppRecord, actor: string): Promise<AppRecord> {
    const { bus, pool, lifecycle, pending, log } = this.deps;
    const pkg = app.package!;
    const versionAtStart = app.version;
    const memory = Math.max(app.memory_mb, STAGING_MIN_MEMORY_MB);
    const taskId = randomUUID();
    const version = randomUUID();
    const instanceId = randomUUID();
    const wantsInstance0 = app.state === 'STARTED' && app.instances > 0;
    let startsInstance0 = false;
    let result: msg.StagingSucceeded | msg.StagingFailed | null = null;
    let savingLogUrl: Promise<void> = Promise.resolve();
    // An admin buildpack the app names may have been deleted since: that fails here, before any DEA is asked.
    const buildpacks: ResolvedBuildpacks = this.deps.buildpacks
      ? await this.deps.buildpacks.resolve(app.buildpack)
      : { buildpack: app.buildpack ?? undefined };

    for (let attempt = 1; attempt <= STAGING_ATTEMPTS && !result; attempt++) {
      // Staging needs its own memory, not the app's: an app too big for any DEA still stages, then waits for room.
      const dea = pool.pick(app.id, memory, app.stack) ?? pool.pick(app.id, STAGING_MIN_MEMORY_MB, app.stack);
      if (!dea) {
        if (attempt > 1) await lifecycle.stagingUnplaced(app.name, taskId);
        const why = pool.unavailable();
        throw unavailable(`no DEA has room to stage ${app.name} (${app.memory_mb} MB, stack ${app.stack})${why.length > 0 ? `; not taking work: ${why.join('; ')}` : ''}: check nap status and nap deas`);
      }
      startsInstance0 = wantsInstance0 && dea.available_memory_mb >= app.memory_mb + memory && dea.available_disk_mb >= app.disk_mb;
      const staging = { task_id: taskId, dea_id: dea.id, version, log_url: null, error: null, started_at: new Date().toISOString() };
      await lifecycle.stagingBegan(app.name, staging);
      if (startsInstance0) {
        pool.reserve(dea.id, app.id, app.memory_mb, app.disk_mb);
        pending.add(app.id, version, slotKey(WEB, 0), dea.id);
      }
      log.info({ app: app.name, task_id: taskId, dea_id: dea.id, attempt }, 'staging');
      try {
        await bus.requestMany(
          channels.stagingStart(dea.id),
          {
            task_id: taskId,
            app_id: app.id,
            app_name: app.name,
            package_key: pkg.key,
            package_hash: pkg.hash,
            ...buildpacks,
            env: app.env,
            memory_mb: memory,
            start_message: startsInstance0
              ? { ...startMessageFor(app, 0, instanceId, version), command: app.command ?? undefined }
              : undefined,
          },
          (reply) => {
            if ('droplet_key' in reply || 'error' in reply) {
              result = reply;
              return true;
            }
            savingLogUrl = lifecycle.stagingLogAt(app.name, taskId, reply.log_url).catch((err) =>
              log.warn({ err, app: app.name }, 'could not record the staging log url'),
            );
            return false;
          },
          this.deps.stagingTimeoutS * 1000,
          ACCEPT_TIMEOUT_MS,
        );
      } catch (err) {
        if (err instanceof NoAnswerError && attempt < STAGING_ATTEMPTS) {
          log.warn({ app: app.name, dea_id: dea.id }, 'DEA did not accept the staging; asking another');
          pool.forget(dea.id);
          pending.forgetDea(dea.id);
          continue;
        }
        result = { task_id: taskId, error: (err as Error).message };
      }
    }
    await savingLogUrl;
    pending.clear(app.id, version, slotKey(WEB, 0));
    return this.finish(app.name, taskId, pkg.hash, version, versionAtStart, startsInstance0, result!, actor);
  }

  private async finish(
    name: string,
    taskId: string,
    packageHash: string,
    version: string,
    versionAtStart: string,
    startedInstance0: boolean,
    result: msg.StagingSucceeded | msg.StagingFailed,
    actor: string,
  ): Promise<AppRecord> {
    const { apps, log, pending, lifecycle } = this.deps;
    const recorded = await lifecycle.recordStagingResult(name, { taskId, packageHash, version, versionAtStart }, result, actor);
    if (!recorded) throw new NapError(404, 'app_not_found', `app ${name} was deleted while staging`);
    const { app } = recorded;
    if (recorded.outcome === 'superseded') {
      log.info({ app: name, task_id: taskId }, 'staging result superseded by newer bits');
      if ('error' in result) throw stagingFailed(`staging ${name} failed: ${result.error}`);
      return app;
    }
    if (recorded.outcome === 'failed') {
      log.warn({ app: name, task_id: taskId, error: recorded.error }, 'staging failed');
      throw stagingFailed(`staging ${name} failed: ${recorded.error}`);
    }
    if ('error' in result) throw stagingFailed(`staging ${name} failed: ${result.error}`);
    // Instance 0 is starting on the staging DEA: keep convergence from starting it again until its record shows.
    if (startedInstance0) pending.add(app.id, version, slotKey(WEB, 0));
    log.info({ app: name, task_id: taskId, droplet: result.droplet_hash, buildpack: result.detected_buildpack }, 'staged');
    await this.deps.releases.prune(app, await apps.list()).catch((err) => log.warn({ err }, 'could not prune old droplets'));
    return app;
  }
}
