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
  /**
   * An app's build cache on this node, since its last staging here: the blobstore keeps the
   * app's cache too, so a staging after this only fetches it again. Covers deleted apps' caches.
   */
  cacheMs: number;
  /** A Dockerfile app's image that no instance on this node runs, since it was made (or loaded). */
  imageMs: number;
}

export const DEFAULT_GARBAGE_POLICY: GarbagePolicy = {
  instanceDirMs: 10 * 60_000,
  stagingDirMs: 24 * 3600_000,
  dropletMs: 24 * 3600_000,
  cacheMs: 7 * 24 * 3600_000,
  imageMs: 24 * 3600_000,
};

export interface NodeDirs {
  instances: string;
  staging: string;
  droplets: string;
  caches: string;
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
  inUse: { instance(id: string): boolean; droplet(hash: string): boolean; staging(taskId: string): boolean; /** Any staging runs (it may be using any app's cache). */ anyStaging(): boolean },
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
  // `<app_id>` and its `<app_id>.stamp` (staging/build-cache.ts); while any staging runs they all stay.
  await sweep(dirs.caches, policy.cacheMs, () => inUse.anyStaging(), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.stamp)?$/);
  return removed;
}

/** What the image sweep needs of the engine (DockerRuntime has it). */
export interface ImageEngine {
  listImages(labels: Record<string, string>): Promise<{ Id: string; Created: number }[]>;
  removeImage(image: string, force?: boolean): Promise<boolean>;
}

/**
 * Removes the images of Dockerfile apps (label nap.kind=droplet-image) that no live instance on
 * this node runs and that are older than the policy's keep time: a deleted app's, an old
 * release's, one another node built. The engine refuses to remove one a running container uses.
 * Starting such an image again later loads it from its droplet: slower, nothing lost.
 */
export async function collectImageGarbage(engine: ImageEngine, used: (imageId: string) => boolean, policy: GarbagePolicy = DEFAULT_GARBAGE_POLICY, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  for (const image of await engine.listImages({ 'nap.kind': 'droplet-image' })) {
    if (used(image.Id) || now - image.Created * 1000 < policy.imageMs) continue;
    // Forced: an image with several tags is otherwise only untagged. The engine still refuses to
    // remove one a running container uses; a stopped one's is a dead instance's.
    if (await engine.removeImage(image.Id, true)) removed.push(image.Id);
  }
  return removed;
}
