import { randomUUID } from 'node:crypto';
import { type Bus, type Logger, msg, subjects } from '@nap/common';
import { type AppRecord, startCommand } from '../apps/app-record.js';
import type { DeaPool } from '../placement/dea-pool.js';
import { startMessageFor } from '../placement/start-message.js';
import type { ActualInstance, ActualInstancesRepository } from '../store/actual-instances.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { PendingStarts } from './pending-starts.js';

export interface ConvergerDeps {
  apps: AppsRepository;
  actual: ActualInstancesRepository;
  bus: Bus;
  pool: DeaPool;
  pending: PendingStarts;
  log: Logger;
}

const live = (i: ActualInstance) => i.state === 'STARTING' || i.state === 'RUNNING';

/**
 * Brings actual state (DEAs' records in etcd) to desired state (the app in etcd): starts what is
 * missing, stops what is extra. An index whose instance runs an old version keeps it until the new
 * one is RUNNING, so a change of droplet or config never leaves the index empty.
 */
export class Converger {
  private readonly queues = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: ConvergerDeps) {}

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
    const apps = await this.deps.apps.list();
    await Promise.all(apps.map((a) => this.converge(a.name)));
  }

  startLoop(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.convergeAll().catch((err) => this.deps.log.error({ err }, 'convergence loop failed'));
    }, intervalMs);
    this.timer.unref();
  }

  stopLoop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async pass(name: string): Promise<void> {
    const app = await this.deps.apps.get(name);
    if (!app) return;
    const instances = (await this.deps.actual.ofApp(app.id)).filter(live);
    const toStop: ActualInstance[] = [];
    const wanted = app.state === 'STARTED' && app.droplet ? app.instances : 0;

    for (const inst of instances) if (inst.index >= wanted) toStop.push(inst);

    for (let index = 0; index < wanted; index++) {
      const atIndex = instances.filter((i) => i.index === index);
      const current = atIndex.filter((i) => i.version === app.version);
      const old = atIndex.filter((i) => i.version !== app.version);
      if (current.length === 0) {
        if (!this.deps.pending.has(app.id, app.version, index)) this.startInstance(app, index);
      } else {
        this.deps.pending.clear(app.id, app.version, index);
        // Duplicates (two controllers, a retried start): keep the one running longest.
        const keep = current.find((i) => i.state === 'RUNNING') ?? current[0];
        toStop.push(...current.filter((i) => i !== keep));
        if (keep.state === 'RUNNING') toStop.push(...old);
      }
    }
    if (toStop.length > 0) this.stopInstances(app, toStop);
  }

  private startInstance(app: AppRecord, index: number): void {
    const { pool, bus, pending, log } = this.deps;
    const command = startCommand(app);
    if (!app.droplet || !command) return;
    const dea = pool.pick(app.id, app.memory_mb, app.stack);
    if (!dea) {
      log.warn({ app: app.name, index, memory_mb: app.memory_mb }, 'no DEA has room for an instance');
      return;
    }
    pool.reserve(dea.id, app.id, app.memory_mb);
    pending.add(app.id, app.version, index);
    const start: msg.DeaStart = {
      ...startMessageFor(app, index, randomUUID(), app.version),
      droplet_key: app.droplet.key,
      droplet_hash: app.droplet.hash,
      command,
    };
    log.info({ app: app.name, index, dea_id: dea.id, instance_id: start.instance_id }, 'starting instance');
    bus.publish(subjects.deaStart(dea.id), msg.DeaStart, start);
  }

  private stopInstances(app: AppRecord, instances: ActualInstance[]): void {
    this.deps.log.info({ app: app.name, instances: instances.map((i) => `${i.index}:${i.instance_id}`) }, 'stopping instances');
    this.deps.bus.publish(subjects.deaStop, msg.DeaStop, { app_id: app.id, instance_ids: instances.map((i) => i.instance_id) });
  }
}
