import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** What a node keeps, and for how long once nothing uses it. */
export interface GarbagePolicy {
  /** An instance directory no instance of this DEA knows (its crash record was forgotten, or the DEA restarted). */
  instanceDirMs: number;
  /** A finished staging's directory (its log, which `nap logs --staging` reads). */
  stagingDirMs: number;
  /** A droplet no instance on this node runs, since it was last written or fetched. */
  dropletMs: number;
}

export const DEFAULT_GARBAGE_POLICY: GarbagePolicy = { instanceDirMs: 10 * 60_000, stagingDirMs: 24 * 3600_000, dropletMs: 24 * 3600_000 };

export interface NodeDirs {
  instances: string;
  staging: string;
  droplets: string;
}

async function ageMs(path: string, now: number): Promise<number | null> {
  const info = await stat(path).catch(() => null);
  return info ? now - info.mtimeMs : null;
}

/**
 * Removes what a DEA's disk holds that nothing uses any more: directories of instances it no
 * longer knows, staging directories past their keep time (an unfinished one, whose DEA died
 * mid-staging, too), droplets no live instance runs. `inUse` is asked at the moment of removal,
 * so an instance that started during the sweep keeps its files. Names it cannot have made are left alone.
 */
export async function collectGarbage(
  dirs: NodeDirs,
  inUse: { instance(id: string): boolean; droplet(hash: string): boolean; staging(taskId: string): boolean },
  policy: GarbagePolicy = DEFAULT_GARBAGE_POLICY,
  now = Date.now(),
): Promise<string[]> {
  const removed: string[] = [];
  const sweep = async (dir: string, keepMs: number, used: (name: string) => boolean, named: RegExp) => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!named.test(name) || used(name)) continue;
      const age = await ageMs(join(dir, name), now);
      if (age === null || age < keepMs) continue;
      await rm(join(dir, name), { recursive: true, force: true });
      removed.push(join(dir, name));
    }
  };
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  await sweep(dirs.instances, policy.instanceDirMs, (n) => inUse.instance(n), uuid);
  await sweep(dirs.staging, policy.stagingDirMs, (n) => inUse.staging(n), uuid);
  await sweep(dirs.droplets, policy.dropletMs, (n) => inUse.droplet(n.slice(0, 64)), /^[0-9a-f]{64}\.tgz$/);
  return removed;
}
