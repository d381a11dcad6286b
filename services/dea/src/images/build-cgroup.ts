import { access, mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** Every build's cgroup is a child of this one, so that nap's builds are easy to find on a node. */
const BUILDS = 'nap-builds';

export interface BuildCgroup {
  /** The `cgroupparent` of the build: its RUN containers' cgroups are made under it. */
  parent: string;
  remove(): Promise<void>;
}

const exists = (path: string) => access(path).then(() => true, () => false);

/**
 * A cgroup with `pids.max` for one Dockerfile build. The legacy builder's API has no pids option,
 * but it takes a cgroup parent, and a pids limit holds for everything under the cgroup it is set
 * on: so every RUN container of the build shares this one cap. cgroup v1 (this machine, dockerd's
 * cgroupfs driver) has the pids hierarchy at /sys/fs/cgroup/pids; on v2 the pids controller is
 * enabled down to the build's cgroup. Needs the DEA to be root, as it is.
 */
export async function makeBuildCgroup(name: string, pidsMax: number): Promise<BuildCgroup> {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name)) throw new Error(`not a cgroup name: ${name}`);
  const v1 = join(CGROUP_ROOT, 'pids');
  let dir: string;
  if (await exists(join(v1, 'pids.max')).then((x) => x || exists(join(v1, 'cgroup.procs')))) {
    dir = join(v1, BUILDS, name);
    await mkdir(dir, { recursive: true });
  } else if (await exists(join(CGROUP_ROOT, 'cgroup.controllers'))) {
    const builds = join(CGROUP_ROOT, BUILDS);
    await enablePids(CGROUP_ROOT);
    await mkdir(builds, { recursive: true });
    await enablePids(builds);
    dir = join(builds, name);
    await mkdir(dir, { recursive: true });
  } else {
    throw new Error('this node has no pids cgroup controller, so a Dockerfile build cannot be capped');
  }
  await writeFile(join(dir, 'pids.max'), `${pidsMax}\n`);
  const v1Dir = dir.startsWith(`${v1}/`);
  return {
    parent: `/${BUILDS}/${name}`,
    async remove() {
      // On v1 the engine (cgroupfs) makes the parent in every hierarchy, not only in pids, and
      // removes just its containers' cgroups: each hierarchy's copy goes too, or every build
      // leaves a cgroup behind in memory, cpu, blkio, … (a tenant could pile up thousands).
      await removeWhenEmpty(v1Dir ? [dir, ...(await v1Copies(name)).filter((d) => d !== dir)] : [dir]);
    },
  };
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

/** The engine removes its containers' cgroups a moment after the build; until then rmdir is EBUSY. */
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

async function enablePids(dir: string): Promise<void> {
  const control = join(dir, 'cgroup.subtree_control');
  if ((await readFile(control, 'utf8')).split(/\s+/).includes('pids')) return;
  await writeFile(control, '+pids');
}
