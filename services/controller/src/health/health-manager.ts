import { ActualInstanceRecord, type Bus, channels, type Etcd3, keys, type Logger, msg } from '@nap/common';
import type { Watcher } from 'etcd3';
import { slotKey, WEB } from '../apps/processes.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { CrashHistory } from '../store/crash-history.js';
import type { EventsRepository } from '../store/events-repository.js';
import { restartDelayMs } from './backoff.js';
import type { Converger } from './converger.js';
import { Leadership } from './leadership.js';

/** A full comparison of every app, besides the passes that changes trigger at once. */
const SWEEP_INTERVAL_MS = 5_000;
/**
 * After etcd was away, the DEAs' leases may have expired with it, and each DEA needs a moment to
 * make a new one and write its instances again (its lease's TTL and one back-off step): until
 * then an instance that runs looks missing, and starting it again would run it twice.
 */
const RESYNC_GRACE_MS = 5_000;

export interface HealthManagerDeps {
  controllerId: string;
  etcd: Etcd3;
  bus: Bus;
  apps: AppsRepository;
  crashes: CrashHistory;
  events: EventsRepository;
  converger: Converger;
  /** What else only the elected controller does: the cron scheduler. */
  whileLeading?: { start(): void; stop(): void }[];
  log: Logger;
}

/**
 * The DINP seed's loop, with Cloud Foundry's crash policy: desired state (apps in etcd) against
 * actual state (the DEAs' leased records). Only the elected controller acts. It reacts to changes
 * as etcd reports them (an app edited, a record gone with a dead DEA's lease), to crashes on the
 * bus, and sweeps everything every few seconds in case something was missed.
 */
export class HealthManager {
  private readonly leadership: Leadership;
  private watchers: Watcher[] = [];
  private sweep: NodeJS.Timeout | null = null;
  private readonly appNames = new Map<string, string>();
  /** Until then the health manager watches but does not act (see RESYNC_GRACE_MS). */
  private quietUntil = 0;
  private resync: NodeJS.Timeout | null = null;

  constructor(private readonly deps: HealthManagerDeps) {
    this.leadership = new Leadership(deps.etcd, deps.controllerId, deps.log, (afterFailure) => void this.act(afterFailure), () => void this.standDown());
  }

  get acting(): boolean {
    return this.leadership.isLeader;
  }

  start(): void {
    this.deps.bus.subscribe(channels.dropletExited, (exited) => this.onExited(exited));
    this.leadership.start();
  }

  /** Asks for a pass over one app now; a controller that is not acting leaves it to the one that is. */
  poke(name: string): Promise<void> {
    return this.acting && !this.quiet ? this.deps.converger.converge(name) : Promise.resolve();
  }

  private get quiet(): boolean {
    return Date.now() < this.quietUntil;
  }

  private async act(afterFailure: boolean): Promise<void> {
    const { etcd, log } = this.deps;
    if (afterFailure) {
      this.quietUntil = Date.now() + RESYNC_GRACE_MS;
      log.info({ grace_ms: RESYNC_GRACE_MS }, 'etcd is back: waiting for the DEAs to register their instances again before acting');
      this.resync = setTimeout(() => void this.sweepAll(), RESYNC_GRACE_MS);
      this.resync.unref();
    }
    try {
      const appsWatch = await etcd.watch().prefix(keys.apps()).create();
      appsWatch.on('put', (kv) => this.onAppChanged(kv.key.toString()));
      appsWatch.on('delete', (kv) => this.onAppChanged(kv.key.toString()));
      const actualWatch = await etcd.watch().prefix(keys.actualInstances()).withPreviousKV().create();
      actualWatch.on('put', (kv) => this.onActualChanged(kv.value.toString()));
      actualWatch.on('delete', (_kv, previous) => this.onActualGone(previous?.value.toString()));
      this.watchers = [appsWatch, actualWatch];
    } catch (err) {
      log.error({ err }, 'could not watch etcd; relying on the sweep');
    }
    this.sweep = setInterval(() => void this.sweepAll(), SWEEP_INTERVAL_MS);
    this.sweep.unref();
    for (const work of this.deps.whileLeading ?? []) work.start();
    await this.sweepAll();
  }

  private async standDown(): Promise<void> {
    for (const work of this.deps.whileLeading ?? []) work.stop();
    if (this.sweep) clearInterval(this.sweep);
    if (this.resync) clearTimeout(this.resync);
    this.sweep = null;
    this.resync = null;
    this.deps.converger.cancelWakeups();
    const watchers = this.watchers;
    this.watchers = [];
    await Promise.all(watchers.map((w) => w.cancel().catch(() => {})));
  }

  private async sweepAll(): Promise<void> {
    if (!this.acting || this.quiet) return;
    try {
      for (const app of await this.deps.apps.list()) this.appNames.set(app.id, app.name);
      await this.deps.converger.convergeAll();
    } catch (err) {
      this.deps.log.warn({ err }, 'sweep failed');
    }
  }

  private onAppChanged(key: string): void {
    void this.poke(key.slice(keys.apps().length));
  }

  private async nameOf(appId: string): Promise<string | null> {
    const known = this.appNames.get(appId);
    if (known) return known;
    const app = (await this.deps.apps.list()).find((a) => a.id === appId);
    if (app) this.appNames.set(app.id, app.name);
    return app?.name ?? null;
  }

  private onActualChanged(raw: string): void {
    const record = parseRecord(raw);
    // A crash is handled from droplet.exited, after it is counted: reacting to the record too
    // would restart the index before its back-off is known.
    if (!record || record.state === 'CRASHED') return;
    // A record turning RUNNING lets a rolling replacement go on; a STOPPING one (evacuation) needs a replacement.
    void this.nameOf(record.app_id).then((name) => (name ? this.poke(name) : undefined));
  }

  /**
   * A record deleted: a stop the DEA finished, or a lease that expired with its DEA. In the second
   * case no DEA is left to withdraw the routes, so routers are told here rather than after their
   * two-minute prune.
   */
  private async onActualGone(previousRaw: string | undefined): Promise<void> {
    const record = previousRaw ? parseRecord(previousRaw) : null;
    if (!record) return;
    const name = await this.nameOf(record.app_id);
    if (!name) return;
    if (record.state === 'RUNNING' && record.port > 0 && record.process_type === WEB) {
      const app = await this.deps.apps.get(name);
      if (app && app.routes.length > 0) {
        this.deps.bus.publish(channels.routerUnregister, {
          host: record.host,
          port: record.port,
          uris: app.routes,
          app: record.app_id,
          private_instance_id: record.instance_id,
          lost: true,
        });
      }
    }
    await this.poke(name);
  }

  private async onExited(exited: msg.DropletExited): Promise<void> {
    if (!this.acting) return;
    const name = await this.nameOf(exited.app_id);
    if (!name) return;
    if (exited.reason === 'CRASHED') {
      // An old version's instance crashing (mid rolling update) is shown, but must not wipe the
      // count of the version now wanted: crash counts belong to a version.
      const app = await this.deps.apps.get(name);
      // A staging's instance 0 runs the version the app is about to have: its crashes count too.
      const current = app !== null && (app.version === exited.version || (app.package_state === 'STAGING' && app.staging?.version === exited.version));
      const crashes = current ? await this.deps.crashes.recordCrash(exited.app_id, slotKey(exited.process_type, exited.index), Date.now(), exited.version) : null;
      await this.deps.events.record(exited.app_id, 'crashed', 'system', {
        index: exited.index,
        process_type: exited.process_type,
        instance_id: exited.instance_id,
        exit_status: exited.exit_status,
        exit_description: exited.exit_description,
        ...(crashes ? { crash_count: crashes.count, restart_in_s: Math.round(restartDelayMs(crashes.count) / 1000) } : { version: exited.version, replaced: true }),
      });
    }
    await this.poke(name);
  }

  async stop(): Promise<void> {
    await this.leadership.stop();
  }
}

function parseRecord(raw: string): ActualInstanceRecord | null {
  try {
    const parsed = ActualInstanceRecord.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
