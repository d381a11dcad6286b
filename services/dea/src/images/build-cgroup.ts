import { access, mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** Every build's cgroup is a child of this one, so that nap's builds are easy to find on a node. */
const BUILDS = 'nap-builds';

export interface BuildCgroupLimits {
  pidsMax: number;
  /** Memory and swap together: nothing of the build goes to swap beyond it. Unset: no memory cap. */
  memoryBytes?: number;
  /** CPU weight as Docker's cpu shares (1024: a full share); converted to cpu.weight on v2. */
  cpuShares?: number;
}

export interface BuildCgroup {
  /** `cgroup.procs` of each hierarchy: a process written to all of them, and all it starts, is capped. */
  procsFiles: string[];
  /** SIGKILL to every process still in the cgroup: a build past its time stops at once, children and all. */
  killAll(): Promise<void>;
  remove(): Promise<void>;
}

const exists = (path: string) => access(path).then(() => true, () => false);

/**
 * A cgroup with `pids.max`, a memory cap and a CPU weight for one Dockerfile build. The DEA puts
 * the builder (buildah, run as the unprivileged nap-build user, which cannot touch cgroups
 * itself) into it before it execs, so the builder and every RUN step it starts share one cap.
 * cgroup v1 (this machine) has one hierarchy per controller; on v2 the controllers are enabled down
 * to the build's cgroup. Needs the DEA to be root, as it is.
 */
export async function makeBuildCgroup(name: string, limits: BuildCgroupLimits): Promise<BuildCgroup> {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name)) throw new Error(`not a cgroup name: ${name}`);
  const v1 = join(CGROUP_ROOT, 'pids');
  const dirs: string[] = [];
  if (await exists(join(v1, 'pids.max')).then((x) => x || exists(join(v1, 'cgroup.procs')))) {
    const made = async (hierarchy: string) => {
      const dir = join(CGROUP_ROOT, hierarchy, BUILDS, name);
      await mkdir(dir, { recursive: true });
      dirs.push(dir);
      return dir;
    };
    await writeFile(join(await made('pids'), 'pids.max'), `${limits.pidsMax}\n`);
    if (limits.memoryBytes !== undefined) {
      const mem = await made('memory');
      await writeFile(join(mem, 'memory.limit_in_bytes'), `${limits.memoryBytes}\n`);
      // Absent when the kernel keeps no swap accounting; then there is no swap to cap.
      await writeFile(join(mem, 'memory.memsw.limit_in_bytes'), `${limits.memoryBytes}\n`).catch(() => {});
    }
    if (limits.cpuShares !== undefined) await writeFile(join(await made('cpu'), 'cpu.shares'), `${limits.cpuShares}\n`);
  } else if (await exists(join(CGROUP_ROOT, 'cgroup.controllers'))) {
    const builds = join(CGROUP_ROOT, BUILDS);
    await enable(CGROUP_ROOT);
    await mkdir(builds, { recursive: true });
    await enable(builds);
    const dir = join(builds, name);
    await mkdir(dir, { recursive: true });
    dirs.push(dir);
    await writeFile(join(dir, 'pids.max'), `${limits.pidsMax}\n`);
    if (limits.memoryBytes !== undefined) {
      await writeFile(join(dir, 'memory.max'), `${limits.memoryBytes}\n`);
      await writeFile(join(dir, 'memory.swap.max'), '0\n').catch(() => {});
    }
    if (limits.cpuShares !== undefined) {
      const weight = Math.max(1, Math.min(10000, 1 + Math.floor(((limits.cpuShares - 2) * 9999) / 262142)));
      await writeFile(join(dir, 'cpu.weight'), `${weight}\n`);
    }
  } else {
    throw new Error('this node has no pids cgroup controller, so a Dockerfile build cannot be capped');
  }
  return {
    procsFiles: dirs.map((d) => join(d, 'cgroup.procs')),
    async killAll() {
      const pids = new Set<number>();
      for (const d of dirs) for (const pid of await procsUnder(d)) pids.add(pid);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
    async remove() {
      // Every hierarchy's copy goes, or every build leaves a cgroup behind (a tenant could pile up thousands).
      await removeWhenEmpty([...new Set([...dirs, ...(await v1Copies(name))])]);
    },
  };
}

/** The processes in a cgroup and in the cgroups below it. */
async function procsUnder(dir: string): Promise<number[]> {
  const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map(Number);
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) pids.push(...(await procsUnder(join(dir, entry.name))));
  }
  return pids;
}

/** The build's cgroup in every v1 hierarchy that has one (cpu and cpuacct may be one mount under two names). */
async function v1Copies(name: string): Promise<string[]> {
  const hierarchies = await readdir(CGROUP_ROOT).catch(() => [] as string[]);
  const found: string[] = [];
  for (const h of hierarchies) {
    const d = join(CGROUP_ROOT, h, BUILDS, name);
    if (await exists(d)) found.push(d);
  }
  return found;
}

/** The last processes leave a cgroup a moment after the builder ends; until then rmdir is EBUSY. */
async function removeWhenEmpty(dirs: string[]): Promise<void> {
  let left = dirs;
  for (let attempt = 0; attempt < 10 && left.length > 0; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 200 * attempt));
    const busy: string[] = [];
    for (const d of left) {
      await rmdir(d).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') busy.push(d);
      });
    }
    left = busy;
  }
}

async function enable(dir: string): Promise<void> {
  const control = join(dir, 'cgroup.subtree_control');
  const have = (await readFile(control, 'utf8')).split(/\s+/);
  for (const c of ['pids', 'memory', 'cpu']) if (!have.includes(c)) await writeFile(control, `+${c}`);
}
