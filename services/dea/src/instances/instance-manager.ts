import { chown, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Bus, channels, extractArchive, type Logger, msg } from '@nap/common';
import type { DropletCache } from '../droplets/droplet-cache.js';
import type { ImageDroplets } from '../images/image-droplets.js';
import { instanceUser } from '../images/image-user.js';
import type { StackVariants } from '../images/stack-variants.js';
import { becameHealthy, passesNow } from '../health/health-check.js';
import type { RouteAnnouncer } from '../routing/route-announcer.js';
import { type ContainerSpec, ContainerGone, type DockerRuntime, VCAP } from '../runtime/docker-runtime.js';
import type { ActualStateStore } from '../store/actual-state.js';
import { type Instance, isLive } from './instance.js';
import { APP_HOME, instanceEnv } from './instance-env.js';
import type { InstanceRegistry } from './instance-registry.js';
import type { DiskQuota } from './disk-quota.js';
import type { PortAllocator } from './port-allocator.js';
import { APP_PORT } from '../network/firewall.js';
import type { ContainerNetwork } from '../network/container-network.js';

/** A crashed instance's directory (its logs) is kept this long: that is when a user wants to read them. */
const CRASHED_RETENTION_MS = 10 * 60_000;
/** How long a crashed or stopped container's last output may take to reach its log files. */
const LOG_DRAIN_MS = 3_000;
/** Running instances are checked this often; this many failures in a row and the instance is restarted. */
const RUNNING_CHECK_INTERVAL_MS = 5_000;
const RUNNING_CHECK_FAILURES = 3;
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
  ports: PortAllocator;
  /** disk_mb: refused at start when this DEA has not that much free, measured while running. */
  disk?: DiskQuota;
  /** This DEA's NAP_DEA_PORT_RANGE: the host ports whose mappings are its own to reconcile. */
  portRange: [number, number];
  network: ContainerNetwork;
  log: Logger;
  onChange: () => void;
}

/** A stop came while the droplet was being fetched: what the start made so far is dropped. */
class Abandoned extends Error {}

export type StopReason = 'STOPPED' | 'DEA_SHUTDOWN' | 'DEA_EVACUATION';

/** Runs instances: droplet → directory → container → health check → routes, and back down again. */
export class InstanceManager {
  /** Log copying per instance: a container is removed only once its last output is in the files. */
  private readonly logCopies = new Map<string, Promise<void>>();

  private readonly checkFailures = new Map<string, number>();
  private monitor: NodeJS.Timeout | null = null;

  constructor(private readonly deps: InstanceManagerDeps) {}

  /**
   * Keeps checking RUNNING instances as they were checked at start (port or http): one that stops
   * answering for three checks in a row is taken down and reported CRASHED, and the health
   * manager starts a replacement.
   */
  startMonitoring(): void {
    this.monitor = setInterval(() => void this.checkRunning(), RUNNING_CHECK_INTERVAL_MS);
    this.monitor.unref();
  }

  stopMonitoring(): void {
    if (this.monitor) clearInterval(this.monitor);
  }

  private async checkRunning(): Promise<void> {
    await Promise.all(
      this.deps.registry.live().map(async (inst) => {
        if (inst.state !== 'RUNNING' || inst.port === null || inst.evacuating) return;
        const id = inst.start.instance_id;
        if (await passesNow(inst.start.health_check, this.deps.host, inst.port)) {
          this.checkFailures.delete(id);
          return;
        }
        const failures = (this.checkFailures.get(id) ?? 0) + 1;
        this.checkFailures.set(id, failures);
        if (failures < RUNNING_CHECK_FAILURES || inst.state !== 'RUNNING') return;
        this.checkFailures.delete(id);
        const check = inst.start.health_check;
        const why = `health check failed while running: ${check.type === 'http' ? `${check.endpoint ?? '/'} did not answer 2xx` : `nothing accepted connections on port ${inst.port}`} ${RUNNING_CHECK_FAILURES} times in a row`;
        await this.crash(inst, null, why);
      }),
    );
  }

  /** Starts an instance; resolves when it is RUNNING (or has failed). */
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
    await this.record(inst);
    return { running: this.run(inst) };
  }

  private async run(inst: Instance): Promise<void> {
    const { start } = inst;
    const { log } = this.deps;
    log.info({ app: start.app_name, index: start.index, instance_id: start.instance_id }, 'starting instance');
    try {
      const refused = this.deps.disk?.refusal(inst);
      if (refused) return await this.crash(inst, null, refused);
      const began = Date.now();
      const runIn = await this.prepare(inst);
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
      }, { stdout: join(logs, 'stdout.log'), stderr: join(logs, 'stderr.log'), maxBytes: this.deps.logMaxBytes });
      inst.containerId = started.id;
      const containerStarted = Date.now();
      if (inst.state !== 'STARTING') return await this.abandon(inst);
      await this.mapPort(inst);
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

  /** The router, other hosts and the health checks reach the app at host:port, DNAT'ed to its container's APP_PORT. */
  private async mapPort(inst: Instance): Promise<void> {
    const address = await this.deps.runtime.addressOf(inst.containerId!);
    if (!address) throw new Error(`the container has no address on ${this.deps.network.name}`);
    await this.deps.network.firewall.map({ hostPort: inst.port!, address, port: APP_PORT });
  }

  private async releasePort(inst: Instance): Promise<void> {
    if (inst.port === null) return;
    await this.deps.network.firewall.unmap(inst.port);
    this.deps.ports.release(inst.port);
  }

  /**
   * After adoption: the mappings of this DEA's port range are exactly its live instances' (a
   * mapping left by a container that died with the previous run would lead a reused port to
   * whoever gets that address next).
   */
  private async reconcileMappings(): Promise<void> {
    const [lo, hi] = this.deps.portRange;
    const live = new Set(this.deps.registry.live().map((i) => i.port));
    const { firewall } = this.deps.network;
    for (const m of await firewall.mappings()) {
      if (m.hostPort >= lo && m.hostPort <= hi && !live.has(m.hostPort)) await firewall.unmap(m.hostPort);
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
    await this.releasePort(inst);
    if (this.deps.registry.get(inst.start.instance_id) !== inst) await rm(inst.dir, { recursive: true, force: true }).catch(() => {});
  }

  /**
   * Gets what the instance runs from onto this node and says how to run it: a tgz droplet is
   * extracted into the instance's app/ and bind-mounted over the stack (or its variant); an image
   * droplet is loaded and run as it is, in its own WORKDIR and as its own USER (vcap when it names
   * none), with only the logs in the instance directory. Either way the command goes through
   * /bin/sh, so an image must have one.
   */
  private async prepare(inst: Instance): Promise<(env: Record<string, string>) => Pick<ContainerSpec, 'image' | 'cmd' | 'env' | 'workingDir' | 'user' | 'entrypoint' | 'binds'>> {
    const { start } = inst;
    if (start.droplet_type === 'image') {
      const image = await this.deps.images.ensure(start);
      const [passwd, group] = await this.deps.runtime.readImageFiles(image.Id, ['/etc/passwd', '/etc/group']);
      if (inst.state !== 'STARTING') throw new Abandoned();
      await mkdir(join(inst.dir, 'logs'), { recursive: true });
      return (env) => {
        // The image's own PATH (a Dockerfile's ENV) stands unless the app's env sets one.
        if (start.env.PATH === undefined) delete env.PATH;
        // HOME=/home/vcap/app is where buildpack droplets live; an image has its own idea.
        if (start.env.HOME === undefined) delete env.HOME;
        return {
          image: image.Id,
          entrypoint: [],
          cmd: ['/bin/sh', '-c', start.command],
          env,
          workingDir: undefined,
          // Never the host's root: see images/image-user.ts.
          user: instanceUser(image.Config.User, { passwd, group }),
          binds: [],
        };
      };
    }
    const image = await this.deps.variants.ensure(start.stack_variant);
    const droplet = await this.deps.droplets.ensure(start.droplet_key, start.droplet_hash);
    if (inst.state !== 'STARTING') throw new Abandoned();
    await this.prepareDirectory(inst, droplet);
    return (env) => ({
      image,
      // The command arrives as $0 so that no quoting of ours can change what the user wrote.
      // .profile.d/*.sh is where buildpacks put the environment their runtime needs (PATH, PYTHONPATH).
      cmd: ['/bin/sh', '-c', `cd ${APP_HOME} && for f in .profile.d/*.sh; do [ -f "$f" ] && . "./$f"; done; exec /bin/sh -c "$0"`, start.command],
      env,
      workingDir: APP_HOME,
      binds: [`${inst.dir}/app:${APP_HOME}`],
    });
  }

  private async prepareDirectory(inst: Instance, droplet: string): Promise<void> {
    await mkdir(join(inst.dir, 'logs'), { recursive: true });
    await extractArchive(droplet, inst.dir, VCAP);
    // The app owns its files; the logs stay the DEA's, so an app cannot rewrite its own history.
    await chown(join(inst.dir, 'app'), VCAP.uid, VCAP.gid);
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
    await this.releasePort(inst);
    this.deps.registry.snapshot();
    this.deps.onChange();
    await this.record(inst);
    this.publishExit(inst, 'CRASHED');
    setTimeout(() => void this.forget(inst), CRASHED_RETENTION_MS).unref();
  }

  async stop(inst: Instance, reason: StopReason): Promise<void> {
    if (!isLive(inst)) return;
    const wasRunning = inst.state === 'RUNNING';
    inst.state = 'STOPPING';
    inst.stateTimestamp = Date.now();
    // Routes first, so the router stops sending requests before the app goes away.
    if (wasRunning) this.deps.announcer.unregister(inst);
    await this.record(inst).catch(() => {});
    if (inst.containerId) {
      await this.deps.runtime.stop(inst.containerId, STOP_GRACE_S).catch(() => {});
      await this.logsCopied(inst);
      await this.deps.runtime.remove(inst.containerId).catch(() => {});
    }
    inst.state = 'STOPPED';
    inst.stateTimestamp = Date.now();
    await this.releasePort(inst);
    this.publishExit(inst, reason);
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

  /**
   * SIGTERM on a DEA: every instance is marked STOPPING (still serving) so the health manager
   * starts a replacement elsewhere; once each has one RUNNING (or the time is up) its routes are
   * withdrawn, and only then is it stopped. An app with instances on other nodes never stops
   * answering.
   */
  async evacuate(timeoutMs: number): Promise<void> {
    const leaving = this.deps.registry.live();
    // Alone (a single node going down), there is nowhere to evacuate to.
    if ((await this.deps.store.otherDeas().catch(() => 0)) === 0) timeoutMs = 0;
    for (const inst of leaving) {
      inst.evacuating = true;
      await this.record(inst);
    }
    const deadline = Date.now() + timeoutMs;
    const replaced = async (i: Instance) => this.deps.store.runningElsewhere(i.start.app_id, i.start.version, i.start.index).catch(() => false);
    let waiting = leaving.filter((i) => i.state === 'RUNNING');
    while (waiting.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      const done = await Promise.all(waiting.map(replaced));
      waiting = waiting.filter((_, n) => !done[n]);
    }
    if (waiting.length > 0) this.deps.log.warn({ instances: waiting.map((i) => i.start.instance_id) }, 'evacuating without replacements');
    for (const inst of leaving) if (inst.state === 'RUNNING') this.deps.announcer.unregister(inst);
    // Routers drop the routes on the unregister they just got; requests already on the way finish.
    await new Promise((r) => setTimeout(r, 500));
    await Promise.all(leaving.map((i) => this.stop(i, 'DEA_EVACUATION')));
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
      await this.mapPort(inst).catch((err) => log.warn({ err, instance_id: inst.start.instance_id }, 'could not map the adopted instance\'s port'));
      const logs = join(inst.dir, 'logs');
      const { copied } = await runtime.attachLogs(c.Id, { stdout: join(logs, 'stdout.log'), stderr: join(logs, 'stderr.log'), maxBytes: this.deps.logMaxBytes });
      this.logCopies.set(inst.start.instance_id, copied.catch(() => {}));
      void this.watchExit(inst, c.Id);
      await this.record(inst);
      if (inst.state === 'RUNNING') this.deps.announcer.register(inst);
      else void this.finishAdoptedStart(inst);
      adopted++;
    }
    await this.reconcileMappings().catch((err) => log.warn({ err }, 'could not reconcile port mappings'));
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
    await this.record(inst);
    this.deps.announcer.register(inst);
  }

  private async forget(inst: Instance): Promise<void> {
    if (this.deps.registry.get(inst.start.instance_id) !== inst || isLive(inst)) return;
    this.deps.registry.delete(inst.start.instance_id);
    await this.deps.store.remove(inst.start.app_id, inst.start.instance_id).catch(() => {});
    await rm(inst.dir, { recursive: true, force: true }).catch(() => {});
  }

  private publishExit(inst: Instance, reason: msg.DropletExited['reason']): void {
    this.deps.bus.publish(channels.dropletExited, {
      app_id: inst.start.app_id,
      version: inst.start.version,
      index: inst.start.index,
      instance_id: inst.start.instance_id,
      process_type: inst.start.process_type,
      reason,
      exit_status: inst.exitStatus,
      exit_description: inst.exitDescription ?? (reason === 'STOPPED' ? 'stopped' : reason.toLowerCase()),
      crash_timestamp: Math.floor(inst.stateTimestamp / 1000),
    });
  }

  private async record(inst: Instance): Promise<void> {
    await this.deps.store
      .put({
        app_id: inst.start.app_id,
        app_name: inst.start.app_name,
        version: inst.start.version,
        index: inst.start.index,
        instance_id: inst.start.instance_id,
        process_type: inst.start.process_type,
        state: inst.evacuating && isLive(inst) ? 'STOPPING' : inst.state,
        host: this.deps.host,
        port: inst.port ?? 0,
        dea_id: this.deps.deaId,
        since: inst.stateTimestamp,
        started_at: inst.startedAt,
        exit_status: inst.exitStatus,
        exit_description: inst.exitDescription,
        mem_bytes: null,
        cpu: null,
      })
      .catch((err) => this.deps.log.warn({ err }, 'could not record instance state in etcd'));
  }
}
