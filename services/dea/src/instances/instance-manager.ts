import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { type Bus, type Logger, msg } from '@nap/common';
import type { DropletCache } from '../droplets/droplet-cache.js';
import type { ImageDroplets } from '../images/image-droplets.js';
import type { StackVariants } from '../images/stack-variants.js';
import type { RuntimeStore } from '../runtimes/runtime-store.js';
import type { Drains } from '../drains/drains.js';
import { becameHealthy } from '../health/health-check.js';
import { bulkhead, type BulkheadPolicy } from 'cockatiel';
import type { RouteAnnouncer } from '../routing/route-announcer.js';
import { ContainerGone, type DockerRuntime } from '../runtime/docker-runtime.js';
import type { ActualStateStore } from '../store/actual-state.js';
import type { ContainerNetwork } from '../network/container-network.js';
import type { DiskQuota } from './disk-quota.js';
import { evacuate } from './evacuation.js';
import { type Instance, isLive } from './instance.js';
import { instanceEnv } from './instance-env.js';
import { Abandoned, prepareRun } from './instance-files.js';
import type { InstanceRegistry } from './instance-registry.js';
import { InstanceReports } from './instance-reports.js';
import type { PortAllocator } from './port-allocator.js';
import { PortMappings } from './port-mappings.js';
import { RunningChecks } from './running-checks.js';

/** A crashed instance's directory (its logs) is kept this long: that is when a user wants to read them. */
const CRASHED_RETENTION_MS = 10 * 60_000;
/** How long a crashed or stopped container's last output may take to reach its log files. */
const LOG_DRAIN_MS = 3_000;
/** Seconds an app gets between SIGTERM and SIGKILL, as Cloud Foundry gives. */
const STOP_GRACE_S = 10;

export interface InstanceManagerDeps {
  deaId: string;
  host: string;
  instancesDir: string;
  stackImage: string;
  logMaxBytes: number;
  runtime: DockerRuntime;
  registry: InstanceRegistry;
  store: ActualStateStore;
  announcer: RouteAnnouncer;
  bus: Bus;
  droplets: DropletCache;
  images: ImageDroplets;
  variants: StackVariants;
  runtimes: RuntimeStore;
  /** Log drains: every line of every instance goes to its app's (drains/drains.ts). */
  drains?: Drains;
  ports: PortAllocator;
  /** disk_mb: refused at start when this DEA has not that much free, measured while running. */
  disk?: DiskQuota;
  /** This DEA's NAP_DEA_PORT_RANGE: the host ports whose mappings are its own to reconcile. */
  portRange: [number, number];
  /** NAP_DEA_HEALTH_CHECK_INTERVAL_S, in ms. */
  healthCheckIntervalMs: number;
  /** NAP_DEA_MAX_STARTING: instances brought up at once. */
  maxStarting: number;
  network: ContainerNetwork;
  log: Logger;
  onChange: () => void;
}

export type StopReason = 'STOPPED' | 'DEA_SHUTDOWN' | 'DEA_EVACUATION';

/**
 * Runs instances: droplet → directory → container → health check → routes, and back down again;
 * takes back a previous run's containers. Beside it: how an instance's files are prepared
 * (instance-files.ts), its port mapped (port-mappings.ts), its state reported (instance-reports.ts),
 * running instances checked (running-checks.ts) and a DEA evacuated (evacuation.ts).
 */
export class InstanceManager {
  /** Log copying per instance: a container is removed only once its last output is in the files. */
  private readonly logCopies = new Map<string, Promise<void>>();
  private readonly checks: RunningChecks;
  private readonly mappings: PortMappings;
  private readonly reports: InstanceReports;
  /**
   * Instances coming up at once: a scale to hundreds would otherwise boot every app together, each
   * too slow to pass its health check in time, crash and be started again (a start storm). The
   * rest wait their turn, recorded as STARTING; their health check timeout starts with their container.
   */
  private readonly starting: BulkheadPolicy;

  constructor(private readonly deps: InstanceManagerDeps) {
    this.starting = bulkhead(deps.maxStarting, Number.MAX_SAFE_INTEGER);
    this.checks = new RunningChecks(deps.healthCheckIntervalMs, deps.host, () => deps.registry.live(), (inst, why) => this.crash(inst, null, why));
    this.mappings = new PortMappings(deps.runtime, deps.network, deps.ports, deps.portRange);
    this.reports = new InstanceReports(deps.deaId, deps.host, deps.store, deps.bus, deps.log);
  }

  /** Checks RUNNING instances as they were checked at start, until stopMonitoring (running-checks.ts). */
  startMonitoring(): void {
    this.checks.start();
  }

  stopMonitoring(): void {
    this.checks.stop();
  }

  /** Starts an instance; resolves when it is RUNNING (or has failed). */
  /** The app's log drains' tap on this instance's output (none without drains). */
  private tapOf(start: msg.DeaStart) {
    return this.deps.drains?.tap({ appId: start.app_id, appName: start.app_name, source: `${start.process_type}.${start.index}` });
  }

  async start(start: msg.DeaStart): Promise<void> {
    await (await this.begin(start)).running;
  }

  /**
   * Registers the instance and records it as STARTING in etcd, then returns the rest of the start
   * as a promise. Staging uses this to have instance 0 on record before it reports the droplet, so
   * the health manager never starts that index a second time.
   */
  async begin(start: msg.DeaStart): Promise<{ running: Promise<void> }> {
    const { registry } = this.deps;
    if (registry.get(start.instance_id)) return { running: Promise.resolve() };
    const inst: Instance = {
      start,
      state: 'STARTING',
      stateTimestamp: Date.now(),
      dir: join(this.deps.instancesDir, start.instance_id),
      port: null,
      containerId: null,
      startedAt: null,
      exitStatus: null,
      exitDescription: null,
    };
    registry.add(inst);
    this.deps.onChange();
    await this.reports.record(inst);
    return { running: this.starting.execute(() => this.run(inst)) };
  }

  private async run(inst: Instance): Promise<void> {
    const { start } = inst;
    const { log } = this.deps;
    log.info({ app: start.app_name, index: start.index, instance_id: start.instance_id }, 'starting instance');
    try {
      const refused = this.deps.disk?.refusal(inst);
      if (refused) return await this.crash(inst, null, refused);
      const began = Date.now();
      const runIn = await prepareRun(inst, this.deps);
      const prepared = Date.now();
      inst.port = await this.deps.ports.allocate();
      if (inst.state !== 'STARTING') return await this.abandon(inst);
      const logs = join(inst.dir, 'logs');
      const started = await this.deps.runtime.start({
        name: `nap-${start.app_name}-${start.process_type === msg.DEFAULT_PROCESS_TYPE ? '' : `${start.process_type}-`}${start.index}-${start.instance_id.slice(0, 8)}`,
        ...runIn(instanceEnv(start, this.deps.host, inst.port)),
        memoryMb: start.limits.memory_mb,
        fds: start.limits.fds,
        labels: {
          'nap.kind': 'instance',
          'nap.dea': this.deps.deaId,
          'nap.app_id': start.app_id,
          'nap.app_name': start.app_name,
          'nap.index': String(start.index),
          'nap.process_type': start.process_type,
          'nap.instance_id': start.instance_id,
          'nap.version': start.version,
          'nap.droplet_type': start.droplet_type,
        },
      }, { stdout: join(logs, 'stdout.log'), stderr: join(logs, 'stderr.log'), maxBytes: this.deps.logMaxBytes, onOutput: this.tapOf(start) });
      inst.containerId = started.id;
      const containerStarted = Date.now();
      if (inst.state !== 'STARTING') return await this.abandon(inst);
      await this.mappings.map(inst);
      const mapped = Date.now();
      if (inst.state !== 'STARTING') return await this.abandon(inst);
      this.logCopies.set(
        start.instance_id,
        started.logsCopied.catch((err) => log.warn({ err, instance_id: start.instance_id }, 'log copying ended with an error')),
      );
      void this.watchExit(inst, inst.containerId);
      const healthy = await becameHealthy(start.health_check, this.deps.host, inst.port, () => inst.state === 'STARTING');
      if (inst.state !== 'STARTING') return;
      if (!healthy) {
        const why = `health check failed: the app did not ${start.health_check.type === 'http' ? `answer 2xx on ${start.health_check.endpoint}` : `listen on port ${inst.port}`} within ${start.health_check.timeout_s} s`;
        await this.crash(inst, null, why);
        return;
      }
      const healthyAt = Date.now();
      await this.markRunning(inst);
      // Where a start's time goes, for whoever wonders why a push or a recovery was slow.
      const ms = { prepare: prepared - began, container: containerStarted - prepared, port: mapped - containerStarted, health: healthyAt - mapped, record: Date.now() - healthyAt };
      log.info({ app: start.app_name, index: start.index, port: inst.port, ms }, 'instance running');
    } catch (err) {
      if (err instanceof Abandoned) return await this.abandon(inst);
      if (inst.state === 'STARTING') await this.crash(inst, null, `could not start: ${(err as Error).message}`);
    }
  }

  /** Waits (a bounded while) for the last of an instance's output to reach its files. */
  private async logsCopied(inst: Instance): Promise<void> {
    const copy = this.logCopies.get(inst.start.instance_id);
    if (!copy) return;
    await Promise.race([copy, new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
    this.logCopies.delete(inst.start.instance_id);
  }

  /**
   * A stop that came while the instance was still starting found less to stop than there is now:
   * what the start went on to make (a container, a port, a directory) goes here.
   */
  private async abandon(inst: Instance): Promise<void> {
    if (inst.containerId) await this.deps.runtime.remove(inst.containerId).catch(() => {});
    await this.mappings.release(inst);
    if (this.deps.registry.get(inst.start.instance_id) !== inst) await rm(inst.dir, { recursive: true, force: true }).catch(() => {});
  }

  private async watchExit(inst: Instance, containerId: string): Promise<void> {
    let exit: { exitCode: number; oomKilled: boolean };
    try {
      exit = await this.deps.runtime.wait(containerId);
    } catch (err) {
      // Removed behind nap's back (or an engine that lost its state): as much a crash as an exit.
      if (err instanceof ContainerGone && isLive(inst) && inst.containerId === containerId) await this.crash(inst, null, 'the container disappeared');
      return;
    }
    if (!isLive(inst) || inst.containerId !== containerId) return;
    const why = exit.oomKilled
      ? `out of memory: the app used more than its ${inst.start.limits.memory_mb} MB and was killed`
      : `the app exited with status ${exit.exitCode}`;
    await this.crash(inst, exit.exitCode, why);
  }

  /** The disk quota's verdict: the instance is over its disk_mb (or the node is nearly full). */
  async stopOverDisk(inst: Instance, description: string): Promise<void> {
    if (!isLive(inst)) return;
    await this.crash(inst, null, description);
  }

  /** An unplanned end: routes go first, then the container; the directory stays for its logs. */
  private async crash(inst: Instance, exitStatus: number | null, description: string): Promise<void> {
    const wasRunning = inst.state === 'RUNNING';
    inst.state = 'CRASHED';
    inst.stateTimestamp = Date.now();
    inst.exitStatus = exitStatus;
    // droplet.exited and the etcd record carry at most 4096 characters (msg.DropletExited): a longer one would not be sent at all.
    inst.exitDescription = description.length > 4000 ? `${description.slice(0, 3999)}…` : description;
    if (wasRunning) this.deps.announcer.unregister(inst);
    await this.logsCopied(inst);
    this.deps.log.warn({ app: inst.start.app_name, index: inst.start.index, exit_status: exitStatus, description }, 'instance crashed');
    if (inst.containerId) await this.deps.runtime.remove(inst.containerId).catch(() => {});
    await this.mappings.release(inst);
    this.deps.registry.snapshot();
    this.deps.onChange();
    await this.reports.record(inst);
    this.reports.exited(inst, 'CRASHED');
    setTimeout(() => void this.forget(inst), CRASHED_RETENTION_MS).unref();
  }

  async stop(inst: Instance, reason: StopReason): Promise<void> {
    if (!isLive(inst)) return;
    const wasRunning = inst.state === 'RUNNING';
    inst.state = 'STOPPING';
    inst.stateTimestamp = Date.now();
    // Routes first, so the router stops sending requests before the app goes away.
    if (wasRunning) this.deps.announcer.unregister(inst);
    await this.reports.record(inst).catch(() => {});
    if (inst.containerId) {
      await this.deps.runtime.stop(inst.containerId, STOP_GRACE_S).catch(() => {});
      await this.logsCopied(inst);
      await this.deps.runtime.remove(inst.containerId).catch(() => {});
    }
    inst.state = 'STOPPED';
    inst.stateTimestamp = Date.now();
    await this.mappings.release(inst);
    this.reports.exited(inst, reason);
    await this.forget(inst);
    this.deps.onChange();
  }

  async stopMatching(stop: msg.DeaStop): Promise<void> {
    const matches = this.deps.registry.live().filter(
      (i) =>
        i.start.app_id === stop.app_id &&
        (stop.version === undefined || i.start.version === stop.version) &&
        (stop.indices === undefined || stop.indices.includes(i.start.index)) &&
        (stop.process_type === undefined || stop.process_type === i.start.process_type) &&
        (stop.instance_ids === undefined || stop.instance_ids.includes(i.start.instance_id)),
    );
    await Promise.all(matches.map((i) => this.stop(i, 'STOPPED')));
  }

  async stopAll(reason: StopReason): Promise<void> {
    await Promise.all(this.deps.registry.live().map((i) => this.stop(i, reason)));
  }

  /** SIGTERM on a DEA (evacuation.ts): replacements elsewhere first, then the instances stop. */
  evacuate(timeoutMs: number): Promise<void> {
    return evacuate(
      { registry: this.deps.registry, store: this.deps.store, announcer: this.deps.announcer, log: this.deps.log, record: (i) => this.reports.record(i), stop: (i) => this.stop(i, 'DEA_EVACUATION') },
      timeoutMs,
    );
  }

  /**
   * A restarted DEA takes back the containers its previous run left running, without restarting
   * them: same instance, same port, routes announced again, output copied again from now on.
   * Containers it has no record of, and records without a running container, are dropped.
   */
  async adopt(previous: Instance[]): Promise<number> {
    const { runtime, registry, log } = this.deps;
    const known = new Map(previous.map((i) => [i.start.instance_id, i]));
    let adopted = 0;
    for (const c of await runtime.list({ 'nap.dea': this.deps.deaId, 'nap.kind': 'instance' })) {
      const inst = known.get(c.Labels['nap.instance_id'] ?? '');
      const running = c.State === 'running';
      if (!inst || !running || !isLive(inst) || inst.port === null) {
        await runtime.remove(c.Id);
        continue;
      }
      inst.containerId = c.Id;
      inst.evacuating = false;
      registry.add(inst);
      this.deps.ports.hold(inst.port);
      await this.mappings.map(inst).catch((err) => log.warn({ err, instance_id: inst.start.instance_id }, 'could not map the adopted instance\'s port'));
      const logs = join(inst.dir, 'logs');
      const { copied } = await runtime.attachLogs(c.Id, { stdout: join(logs, 'stdout.log'), stderr: join(logs, 'stderr.log'), maxBytes: this.deps.logMaxBytes, onOutput: this.tapOf(inst.start) });
      this.logCopies.set(inst.start.instance_id, copied.catch(() => {}));
      void this.watchExit(inst, c.Id);
      await this.reports.record(inst);
      if (inst.state === 'RUNNING') this.deps.announcer.register(inst);
      else void this.finishAdoptedStart(inst);
      adopted++;
    }
    await this.mappings.reconcile(this.deps.registry.live()).catch((err) => log.warn({ err }, 'could not reconcile port mappings'));
    this.deps.onChange();
    if (adopted > 0) log.info({ adopted }, 'adopted running instances');
    return adopted;
  }

  /** An instance that was still STARTING when the DEA went away gets its health check now. */
  private async finishAdoptedStart(inst: Instance): Promise<void> {
    const healthy = await becameHealthy(inst.start.health_check, this.deps.host, inst.port!, () => inst.state === 'STARTING');
    if (inst.state !== 'STARTING') return;
    if (!healthy) return this.crash(inst, null, 'health check failed after the DEA restarted');
    await this.markRunning(inst);
  }

  /** Healthy: on record as RUNNING, then the routers are told; never the other way round. */
  private async markRunning(inst: Instance): Promise<void> {
    inst.state = 'RUNNING';
    inst.startedAt = Date.now();
    inst.stateTimestamp = inst.startedAt;
    this.deps.registry.snapshot();
    await this.reports.record(inst);
    this.deps.announcer.register(inst);
  }

  private async forget(inst: Instance): Promise<void> {
    if (this.deps.registry.get(inst.start.instance_id) !== inst || isLive(inst)) return;
    this.deps.registry.delete(inst.start.instance_id);
    await this.reports.remove(inst);
    await rm(inst.dir, { recursive: true, force: true }).catch(() => {});
  }
}
