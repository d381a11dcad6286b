import { copyFile, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, sleep, spawnDetached, stopPid } from '@nap/common';
import { run } from './commands.js';

/** A Docker engine of the local cluster's own: its data and exec roots under `dir`, its socket, the namespace it runs in. */
export interface Engine {
  dir: string;
  socket: string;
  /** The host's network namespace; none for the template engine, which only loads images. */
  netns: string | null;
  /** Containers' cgroups go under this one (cgroupfs driver), so a host's containers are found without its dockerd. */
  cgroupParent: string;
  label: string;
}

const docker = (e: Pick<Engine, 'socket'>, ...args: string[]) => run('docker', ['-H', `unix://${e.socket}`, ...args], { timeoutMs: 600_000 });

/**
 * Starts an engine as deploy/setup starts the machine's (live restore, no bridge, no iptables:
 * nap owns the network), so a host is what a real machine is after setup. In a host's namespace
 * it is entered with nsenter: `ip netns exec` remounts /sys, and dockerd then finds no devices cgroup.
 */
export async function startEngine(e: Engine): Promise<number> {
  const dockerd = [
    'dockerd',
    '--data-root', join(e.dir, 'docker'),
    '--exec-root', join(e.dir, 'exec'),
    '--pidfile', join(e.dir, 'dockerd.pid'),
    '-H', `unix://${e.socket}`,
    '--bridge=none', '--iptables=false', '--ip6tables=false', '--live-restore', '--log-level=warn',
    '--exec-opt', 'native.cgroupdriver=cgroupfs', '--cgroup-parent', `/${e.cgroupParent}`,
  ];
  const [command, ...args] = e.netns ? ['nsenter', `--net=/var/run/netns/${e.netns}`, ...dockerd] : dockerd;
  const pid = spawnDetached(command, args, { logFile: join(e.dir, 'dockerd.log') });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (await docker(e, 'version', '--format', '{{.Server.Version}}').then(() => true, () => false)) return pid;
    if (!isAlive(pid) || Date.now() > deadline) {
      const log = await readFile(join(e.dir, 'dockerd.log'), 'utf8').catch(() => '');
      throw new Error(`${e.label}'s dockerd did not start; its log ends with:\n${log.slice(-1500)}`);
    }
    await sleep(250);
  }
}

/** Removes every container of the engine, stops it and its containerd, and lets go of its mounts. */
export async function stopEngine(e: Engine, pid: number | null): Promise<void> {
  if (pid && isAlive(pid)) {
    const ids = (await docker(e, 'ps', '-aq').catch(() => '')).split('\n').filter(Boolean);
    if (ids.length) await docker(e, 'rm', '-f', ...ids).catch(() => {});
  }
  const containerd = Number((await readFile(join(e.dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => '')).trim()) || 0;
  if (pid) await stopPid(pid, 20_000);
  if (containerd) await stopPid(containerd, 5000);
  await unmountUnder(e.dir);
}

/** The engine's cgroup parent in every hierarchy (each controller of cgroup v1, or the one of v2), where present. */
async function cgroupDirsOf(parent: string): Promise<string[]> {
  const root = '/sys/fs/cgroup';
  const controllers = await readdir(root).catch(() => [] as string[]);
  const dirs = [join(root, parent), ...controllers.map((c) => join(root, c, parent))];
  const present = await Promise.all(dirs.map((d) => readdir(d).then(() => d, () => null)));
  return [...new Set(present.filter((d): d is string => d !== null))];
}

/** Every process in a cgroup and the cgroups under it. */
async function processesUnder(dir: string): Promise<number[]> {
  const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').map(Number).filter((p) => p > 0);
  const children = (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory());
  for (const c of children) pids.push(...(await processesUnder(join(dir, c.name))));
  return pids;
}

/** Empty cgroups are removed children first (a cgroup with children cannot go). */
async function removeCgroup(dir: string): Promise<void> {
  for (const c of (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory())) await removeCgroup(join(dir, c.name));
  await rmdir(dir).catch(() => {});
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/**
 * Ends a host at once, as a machine losing power would: its containers (everything under its
 * engine's cgroup parent, whether dockerd still answers or not), then every process in its network
 * namespace (nap's programs, dockerd, containerd and the shims). Then its cgroups and the mounts
 * under its folder are let go.
 */
export async function killHost(e: Engine): Promise<void> {
  const cgroups = await cgroupDirsOf(e.cgroupParent);
  const inNamespace = async () => (e.netns ? (await run('ip', ['netns', 'pids', e.netns]).catch(() => '')).split('\n').map(Number).filter((p) => p > 0) : []);
  const inContainers = async () => (await Promise.all(cgroups.map(processesUnder))).flat();
  // The engine first (dockerd, containerd, the shims, nap's programs), so that nothing starts a
  // container while the containers are killed; under a start storm that takes a while.
  for (const find of [inNamespace, inContainers]) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const pids = await find();
      if (!pids.length || Date.now() > deadline) break;
      killAll(pids);
      await sleep(50);
    }
  }
  for (const d of cgroups) await removeCgroup(d);
  await unmountUnder(e.dir);
}

/**
 * Every mount under `dir`: the data root dockerd mounts on itself, the containers' overlays, the
 * network namespaces Docker keeps as nsfs mounts in its exec root.
 */
export async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  // Field 5 is the mount point, with spaces and the like written as octal escapes.
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort();
  // The outermost ones only, each with what is under it (-R): a host with hundreds of containers
  // has thousands of mounts under its data root, which is one of them.
  const outermost = points.filter((p, i) => !points.slice(0, i).some((q) => p.startsWith(`${q}/`)));
  for (const p of [...new Set(outermost)]) await run('umount', ['-R', '-l', p]).catch(() => {});
}

/** Loads an image of the machine's engine into a stopped template engine's data root, once for every host. */
export async function makeTemplate(template: Engine, image: string, machineSocket: string): Promise<void> {
  const pid = await startEngine(template);
  const file = join(template.dir, 'image.tar');
  try {
    await docker({ socket: machineSocket }, 'save', '-o', file, image);
    await docker(template, 'load', '-q', '-i', file);
  } finally {
    await rm(file, { force: true });
    await stopEngine(template, pid);
  }
}

/** bbolt databases, which dockerd and containerd rewrite in place: each host gets a copy of its own. */
async function databasesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.db')).map((e) => join(e.parentPath, e.name));
}

/**
 * A host's data root as a hard-linked copy of the template's: image layers are never written once
 * made (a container writes its own upper layer), and everything dockerd rewrites it replaces with a
 * new file (repositories.json and the like) except its databases, which are copied for real.
 * Seconds instead of a load per host.
 */
export async function dataRootFromTemplate(template: Engine, host: Engine): Promise<void> {
  const target = join(host.dir, 'docker');
  // A kept template on another filesystem than the hosts' cannot be hard-linked: a real copy, slower.
  await run('cp', ['-al', join(template.dir, 'docker'), target], { timeoutMs: 300_000 }).catch(async () => {
    await rm(target, { recursive: true, force: true });
    await run('cp', ['-a', join(template.dir, 'docker'), target], { timeoutMs: 600_000 });
  });
  for (const db of await databasesUnder(target)) {
    await copyFile(db, `${db}.own`);
    await rename(`${db}.own`, db);
  }
  // Each engine makes its own id.
  await rm(join(target, 'engine-id'), { force: true });
}
