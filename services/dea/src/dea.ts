import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Bus, connectEtcd, JetStreamBlobstore, type Logger, type Settings } from '@nap/common';
import { Advertiser } from './advertise/advertiser.js';
import { subscribeDea } from './bus/dea-subscriptions.js';
import { DropletCache } from './droplets/droplet-cache.js';
import { deaIdentity } from './identity.js';
import { ImageDroplets } from './images/image-droplets.js';
import { registryIntegrity } from './runtimes/registry-integrity.js';
import { RuntimeStore } from './runtimes/runtime-store.js';
import { VersionLists } from './runtimes/version-lists.js';
import { subscribeSsh, subscribeTasks } from './bus/task-subscriptions.js';
import { ExecSessions } from './ssh/exec-sessions.js';
import { TaskRunner } from './tasks/task-runner.js';
import { UsageSampler } from './instances/usage-sampler.js';
import { Drains } from './drains/drains.js';
import { startDeaStatus } from './status/dea-metrics.js';
import { StackVariants } from './images/stack-variants.js';
import { DiskQuota } from './instances/disk-quota.js';
import { InstanceManager } from './instances/instance-manager.js';
import { InstanceRegistry } from './instances/instance-registry.js';
import { PortAllocator } from './instances/port-allocator.js';
import { RouteAnnouncer } from './routing/route-announcer.js';
import { DockerRuntime } from './runtime/docker-runtime.js';
import { StagingReservations } from './staging/staging-reservations.js';
import { collectGarbage, collectImageGarbage } from './disk/garbage.js';
import { ensureContainerNetwork } from './network/container-network.js';
import { ActualStateStore } from './store/actual-state.js';

const lifecycleDir = new URL('../../lifecycle', import.meta.url).pathname;

/** How long a stopping DEA waits for its instances' replacements to run elsewhere. */
const EVACUATION_TIMEOUT_MS = 60_000;
const GARBAGE_EVERY_MS = 3600_000;
const ENGINE_CHECK_MS = 2_000;

export interface RunningDea {
  id: string;
  close(): Promise<void>;
}

export async function startDea(settings: Settings, log: Logger): Promise<RunningDea> {
  const dirs = {
    instances: join(settings.deaDir, 'instances'),
    staging: join(settings.deaDir, 'staging'),
    droplets: join(settings.deaDir, 'droplets'),
    caches: join(settings.deaDir, 'caches'),
    buildpacks: join(settings.deaDir, 'buildpacks'),
    tasks: join(settings.deaDir, 'tasks'),
  };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  const deaId = await deaIdentity(settings.deaId, settings.deaDir);

  const engine = new DockerRuntime(settings.dockerSocket, settings.installationId);
  await engine.ping().catch((err: Error) => {
    throw new Error(`Docker does not answer on ${settings.dockerSocket} (${err.message}): run deploy/setup`);
  });
  const network = await ensureContainerNetwork(engine, settings.installationId, settings.containerSubnet, log).catch((err: Error) => {
    throw new Error(`cannot set up the container network: ${err.message}`);
  });
  const runtime = new DockerRuntime(settings.dockerSocket, settings.installationId, network.name, log);
  if (!(await runtime.imageExists(settings.stackImage))) {
    throw new Error(`the stack image ${settings.stackImage} is missing: run deploy/setup`);
  }
  // Staging containers of a previous run are useless now; instance containers are adopted below.
  for (const c of await runtime.list({ 'nap.dea': deaId, 'nap.kind': 'staging' })) await runtime.remove(c.Id);
  await runtime.removeUnusedSandboxes({ 'nap.dea': deaId });
  runtime.keepSandboxesReady(settings.stackImage, { 'nap.dea': deaId });

  const etcd = connectEtcd(settings);
  const bus = await Bus.connect(settings, { name: `nap-dea-${deaId}`, log });
  const blobs = await JetStreamBlobstore.open(bus);
  const store = new ActualStateStore(etcd, deaId, log);
  await store.open({ id: deaId, host: settings.deaHost, zone: settings.deaZone, directory_url: settings.directoryUrl });

  const registry = new InstanceRegistry(join(settings.deaDir, 'snapshot.json'));
  const announcer = new RouteAnnouncer(bus, settings.deaHost, () => registry.all().filter((i) => i.state === 'RUNNING'), log);
  const droplets = new DropletCache(dirs.droplets, blobs);
  const images = new ImageDroplets(runtime, droplets, settings.stackImage);
  const variants = new StackVariants(runtime, settings.stackImage, settings.stackVariantScript);
  await mkdir(settings.runtimesDir, { recursive: true });
  // Staging containers (vcap) look into it: a folder made 0700 (mkdtemp, umask) would hide it.
  await chmod(settings.runtimesDir, 0o755);
  const runtimes = new RuntimeStore(settings.runtimesDir, blobs, registryIntegrity);
  const stagingReservations = new StagingReservations();
  // A running task holds its memory as a staging does: counted in what the DEA advertises.
  const taskReservations = new StagingReservations();
  // Filled in once the instance manager exists: the quota stops instances through it.
  let overDisk: (inst: import('./instances/instance.js').Instance, why: string) => Promise<void> = async () => {};
  const disk = new DiskQuota({
    capacityMb: settings.deaDiskMb,
    reserveMb: settings.deaDiskReserveMb,
    deaDir: settings.deaDir,
    runtime,
    registry,
    log,
    exceeded: (inst, why) => overDisk(inst, why),
  });
  const advertiser = new Advertiser(bus, registry, {
    deaId,
    host: settings.deaHost,
    zone: settings.deaZone,
    stacks: ['bookworm'],
    memoryMb: settings.deaMemoryMb,
    diskMb: settings.deaDiskMb,
    directoryUrl: settings.directoryUrl,
    stagingMemoryMb: () => stagingReservations.memoryMb() + taskReservations.memoryMb(),
    availableDiskMb: () => disk.availableMb(),
    unavailable: () => (runtime.engineAway ? `Docker does not answer on ${settings.dockerSocket}` : disk.fullReason()),
    log,
  });
  const drains = new Drains({ etcd, bus, deaId, log });
  const instances = new InstanceManager({
    deaId,
    host: settings.deaHost,
    instancesDir: dirs.instances,
    stackImage: settings.stackImage,
    logMaxBytes: settings.instanceLogMaxMb * 1024 * 1024,
    runtime,
    registry,
    store,
    announcer,
    bus,
    droplets,
    images,
    variants,
    runtimes,
    drains,
    ports: new PortAllocator(settings.deaPortRange),
    disk,
    portRange: settings.deaPortRange,
    healthCheckIntervalMs: settings.deaHealthCheckIntervalS * 1000,
    maxStarting: settings.deaMaxStarting,
    network,
    log,
    onChange: () => advertiser.advertise(),
  });
  overDisk = (inst, why) => instances.stopOverDisk(inst, why);
  let draining = false;

  subscribeDea(
    bus,
    deaId,
    settings.directoryUrl,
    instances,
    {
      deaId,
      stagingDir: dirs.staging,
      cachesDir: dirs.caches,
      buildpacksDir: settings.buildpacksDir,
      lifecycleDir,
      stackImage: settings.stackImage,
      timeoutS: settings.stagingTimeoutS,
      dockerfileBuild: {
        timeoutS: settings.dockerfileBuildTimeoutS,
        cpuShares: settings.dockerfileBuildCpuShares,
        pidsMax: settings.dockerfileBuildPidsMax,
      },
      runtime,
      blobs,
      dropletPath: (hash) => droplets.pathOf(hash),
      buildCacheMaxMb: settings.buildCacheMaxMb,
      buildpackCacheDir: dirs.buildpacks,
      variants,
      runtimes,
      versionLists: new VersionLists(settings.runtimesDir, log),
    },
    log,
    () => draining,
    { reservations: stagingReservations, changed: () => advertiser.advertise() },
  );
  const tasks = new TaskRunner({
    deaId,
    host: settings.deaHost,
    tasksDir: dirs.tasks,
    logMaxBytes: settings.instanceLogMaxMb * 1024 * 1024,
    runtime,
    droplets,
    images,
    variants,
    runtimes,
    etcd,
    log,
    drains,
    reserve: (id, mb) => {
      taskReservations.reserve(id, mb);
      advertiser.advertise();
    },
    release: (id) => {
      taskReservations.release(id);
      advertiser.advertise();
    },
  });
  subscribeTasks(bus, deaId, tasks, log, () => draining);
  const sshSessions = new ExecSessions({ runtime, registry, bus, log });
  subscribeSsh(bus, deaId, sshSessions, log);
  await instances.adopt(await registry.previous());
  // After adoption: a restarted DEA must have its instances on record again before their old lease ends.
  await drains.start();
  await tasks.adopt();
  const usage = new UsageSampler({ runtime, registry, store, log });
  usage.start();
  const status = await startDeaStatus(
    settings.deaStatusPort,
    {
      registry,
      stagingsRunning: () => stagingReservations.count(),
      stagingMemoryMb: () => stagingReservations.memoryMb(),
      tasksRunning: () => taskReservations.count(),
      taskMemoryMb: () => taskReservations.memoryMb(),
    },
    log,
  );
  // The disk's leftovers (after adoption, so that adopted instances' files count as used), then hourly.
  const sweepDisk = () =>
    collectGarbage(dirs, {
      instance: (id) => registry.get(id) !== undefined,
      droplet: (hash) => registry.live().some((i) => i.start.droplet_hash === hash),
      staging: (task) => stagingReservations.running(task),
      anyStaging: () => stagingReservations.memoryMb() > 0,
    })
      // Images only between stagings: a cached rebuild makes an image as old as its first build.
      .then(async (removed) => (stagingReservations.memoryMb() > 0 ? removed : [...removed, ...(await collectImageGarbage(runtime, (id) => registry.live().some((i) => i.start.image_id === id)))]))
      .then((removed) => removed.length && log.info({ removed: removed.length }, 'removed what nothing on this node uses any more'))
      .catch((err: Error) => log.warn({ err: err.message }, 'disk garbage collection failed'));
  await sweepDisk();
  const diskSweeps = setInterval(() => void sweepDisk(), GARBAGE_EVERY_MS);
  diskSweeps.unref();
  // Docker is watched with or without instances: a DEA whose engine is away advertises no room.
  const engineChecks = setInterval(() => void runtime.checkEngine(), ENGINE_CHECK_MS);
  engineChecks.unref();
  // A stop or a crash while Docker was away could not remove its container (with live-restore it
  // ran on): once Docker is back, containers of this DEA that no live instance owns go.
  runtime.onEngineBack(() => {
    void (async () => {
      const owned = new Set(registry.live().map((i) => i.containerId));
      for (const c of await runtime.list({ 'nap.dea': deaId, 'nap.kind': 'instance' })) {
        // A container made in the last minute may be a start that has not recorded its id yet.
        if (!owned.has(c.Id) && Date.now() / 1000 - c.Created > 60) await runtime.remove(c.Id).catch(() => {});
      }
    })().catch((err: Error) => log.warn({ err: err.message }, 'could not remove containers left while Docker was away'));
  });
  instances.startMonitoring();
  await disk.start();
  await announcer.start();
  advertiser.start();
  log.info({ dea_id: deaId, zone: settings.deaZone, memory_mb: settings.deaMemoryMb }, 'DEA ready');

  return {
    id: deaId,
    async close() {
      usage.stop();
      drains.stop();
      await status.close().catch(() => {});
      sshSessions.closeAll();
      draining = true;
      advertiser.drain();
      instances.stopMonitoring();
      clearInterval(diskSweeps);
      clearInterval(engineChecks);
      disk.stop();
      await instances.evacuate(EVACUATION_TIMEOUT_MS);
      await runtime.dropReadySandboxes();
      advertiser.stop();
      announcer.stop();
      await store.close();
      await bus.close();
      etcd.close();
    },
  };
}
