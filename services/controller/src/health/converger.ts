import { randomUUID } from 'node:crypto';
import { type Bus, channels, type Logger, msg } from '@nap/common';
import { type AppRecord, dropletRun, stagingAbandoned } from '../apps/app-record.js';
import { type ProcessSpec, slotKey, WEB } from '../apps/processes.js';
import type { DeaPool } from '../placement/dea-pool.js';
import { startMessageFor } from '../placement/start-message.js';
import type { ActualInstance, ActualInstancesRepository } from '../store/actual-instances.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { CrashHistory } from '../store/crash-history.js';
import type { AppLifecycle } from '../apps/lifecycle.js';
import { convergencePlan } from './convergence-plan.js';
import type { PendingStarts } from '../placement/pending-starts.js';

export interface ConvergerDeps {
  /** Reads only: what convergence records of an app goes through the lifecycle. */
  apps: AppsRepository;
  lifecycle: Pick<AppLifecycle, 'abandonStaging' | 'notePlacement'>;
  actual: ActualInstancesRepository;
  crashes: CrashHistory;
  bus: Bus;
  pool: DeaPool;
  pending: PendingStarts;
  log: Logger;
  stagingTimeoutS: number;
  now?: () => number;
}

const live = (i: ActualInstance) => i.state === 'STARTING' || i.state === 'RUNNING';

/**
 * Brings actual state (DEAs' records in etcd) to desired state (the app in etcd): reads both,
 * asks convergence-plan.ts what to start and stop, and does it. When no DEA has room, the app
 * says so (placement_error) and the next pass tries again.
 */
export class Converger {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly wakeups = new Map<string, NodeJS.Timeout>();
  private readonly now: () => number;

  constructor(private readonly deps: ConvergerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Passes for one app run one after another, never interleaved. */
  converge(name: string): Promise<void> {
    const previous = this.queues.get(name) ?? Promise.resolve();
    const next = previous
      .then(() => this.pass(name))
      .catch((err) => this.deps.log.error({ err, app: name }, 'convergence failed'));
    this.queues.set(name, next);
    void next.finally(() => {
      if (this.queues.get(name) === next) this.queues.delete(name);
    });
    return next;
  }

  async convergeAll(): Promise<void> {
    // Instances first, apps after: an instance recorded before the list of apps whose app is not
    // in that list belongs to an app that is gone (ids are never reused), never to one just made.
    const recorded = await this.deps.actual.byApp();
    const apps = await this.deps.apps.list();
    await Promise.all(apps.map((a) => this.converge(a.name)));
    this.stopOrphans(recorded, new Set(apps.map((a) => a.id)));
  }

  /**
   * Instances of an app that no longer exists: its delete's dea.stop was lost (NATS blinked), or
   * the delete was cut short. Every sweep stops them again until their DEAs have.
   */
  private stopOrphans(recorded: Map<string, ActualInstance[]>, appIds: Set<string>): void {
    for (const [appId, instances] of recorded) {
      const orphans = instances.filter(live);
      if (appIds.has(appId) || orphans.length === 0) continue;
      this.deps.log.warn({ app_id: appId, instances: orphans.map((i) => i.instance_id) }, 'stopping instances of an app that no longer exists');
      this.deps.bus.publish(channels.deaStop, { app_id: appId, instance_ids: orphans.map((i) => i.instance_id) });
    }
  }

  /** Forgets scheduled passes (when this controller stops acting). */
  cancelWakeups(): void {
    for (const t of this.wakeups.values()) clearTimeout(t);
    this.wakeups.clear();
  }

  private wakeUpLater(name: string, ms: number): void {
    if (this.wakeups.has(name)) return;
    const timer = setTimeout(() => {
      this.wakeups.delete(name);
      void this.converge(name);
    }, ms + 50);
    timer.unref();
    this.wakeups.set(name, timer);
  }

  private async pass(name: string): Promise<void> {
    const app = await this.deps.apps.get(name);
    if (!app) return;
    const now = this.now();
    if (stagingAbandoned(app, this.deps.stagingTimeoutS, now)) {
      await this.deps.lifecycle.abandonStaging(name, this.deps.stagingTimeoutS, now);
      return;
    }
    // Instance 0 of a staging in progress starts before its droplet is recorded: it is not an extra.
    const staging = app.package_state === 'STAGING' ? app.staging?.version : undefined;
    const instances = (await this.deps.actual.ofApp(app.id)).filter((i) => live(i) && i.version !== staging);
    const crashes = await this.deps.crashes.ofApp(app.id);
    const { pending } = this.deps;
    const plan = convergencePlan(app, { instances, crashes, pending: (version, slot) => pending.has(app.id, version, slot) }, now);
    for (const slot of plan.recorded) pending.clear(app.id, app.version, slot);
    for (const slot of plan.resetCrashes) await this.deps.crashes.reset(app.id, slot);
    if (plan.wakeInMs !== null) this.wakeUpLater(app.name, plan.wakeInMs);
    const unplaced: Unplaced[] = [];
    for (const { spec, index } of plan.starts) {
      if (!this.startInstance(app, spec, index)) unplaced.push({ label: spec.type === WEB ? String(index) : `${spec.type} ${index}`, memoryMb: spec.memory_mb });
    }
    if (plan.stops.length > 0) this.stopInstances(app, plan.stops);
    await this.notePlacement(app, unplaced);
  }

  private async notePlacement(app: AppRecord, unplaced: Unplaced[]): Promise<void> {
    const memoryMb = Math.max(0, ...unplaced.map((u) => u.memoryMb));
    const error =
      unplaced.length === 0
        ? null
        : `pending: ${shortage(this.deps.pool, app, memoryMb)} for instance${unplaced.length > 1 ? 's' : ''} ${unplaced.map((u) => u.label).join(', ')}${unavailableNote(this.deps.pool.unavailable())}`;
    await this.deps.lifecycle.notePlacement(app, error, memoryMb);
  }

  private startInstance(app: AppRecord, spec: ProcessSpec, index: number): boolean {
    const { pool, bus, pending, log } = this.deps;
    const command = spec.command;
    if (!app.droplet || !command) return true;
    const dea = pool.pick(app.id, spec.memory_mb, app.stack, app.disk_mb);
    if (!dea) {
      log.warn({ app: app.name, process_type: spec.type, index, memory_mb: spec.memory_mb }, 'no DEA has room for an instance');
      return false;
    }
    const start: msg.DeaStart = {
      ...startMessageFor(app, index, randomUUID(), app.version, spec),
      droplet_key: app.droplet.key,
      droplet_hash: app.droplet.hash,
      ...dropletRun(app.droplet),
      command,
    };
    // A record from before today's limits (a 200-character env name, say) makes a start no DEA would take: say so, reserve nothing.
    const checked = msg.DeaStart.safeParse(start);
    if (!checked.success) {
      log.warn({ app: app.name, process_type: spec.type, index, problem: checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }, 'the app\'s start message is not valid: fix the app (nap env, nap push) to start it');
      // Not a lack of room: nothing is placed, and the next pass tries again once the app is fixed.
      return true;
    }
    pool.reserve(dea.id, app.id, spec.memory_mb, app.disk_mb);
    pending.add(app.id, app.version, slotKey(spec.type, index), dea.id);
    log.info({ app: app.name, process_type: spec.type, index, dea_id: dea.id, instance_id: start.instance_id }, 'starting instance');
    bus.publish(channels.deaStart(dea.id), start);
    return true;
  }

  private stopInstances(app: AppRecord, instances: ActualInstance[]): void {
    this.deps.log.info({ app: app.name, instances: instances.map((i) => `${i.index}:${i.instance_id}`) }, 'stopping instances');
    this.deps.bus.publish(channels.deaStop, { app_id: app.id, instance_ids: instances.map((i) => i.instance_id) });
  }
}

/** DEAs that take nothing new say why; a placement error passes it on. */
function unavailableNote(reasons: string[]): string {
  return reasons.length === 0 ? '' : `; not taking instances: ${reasons.join('; ')}`;
}

/** What no DEA has enough of: disk when some DEA has the memory, else memory (as Cloud Foundry says "insufficient resources: memory"). */
/** An instance no DEA could take, and the memory its process type asks for (a Procfile type may ask another than web). */
interface Unplaced {
  label: string;
  memoryMb: number;
}

function shortage(pool: DeaPool, app: AppRecord, memoryMb: number): string {
  const memoryOk = pool.live().some((d) => !d.unavailable && d.available_memory_mb >= memoryMb && d.stacks.includes(app.stack));
  return memoryOk ? `insufficient disk: no DEA has ${app.disk_mb} MB of disk free` : `insufficient memory: no DEA has ${memoryMb} MB free`;
}
