import { lstat, mkdir, chown, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { type Blobstore, blobKeys, extractArchive, inspectArchive, packArchive } from '@nap/common';
import { VCAP } from '../runtime/docker-runtime.js';

/**
 * The per-app build cache (bin/compile's CACHE_DIR) lives on the staging node in
 * `cachesDir/<app_id>` and, between stagings, in the blobstore at blobKeys.buildCache(app_id), so a
 * staging on another node does not start cold. A stamp next to the local copy
 * (`cachesDir/<app_id>.stamp`) says which blob it matches: the blob's digest and the content hash of
 * what was packed.
 */
export interface BuildCacheStamp {
  digest: string;
  content_hash: string;
}

export interface BuildCachePlace {
  appId: string;
  /** The local copy, mounted at /tmp/cache in the staging container. */
  dir: string;
  stampFile: string;
  /** Where the archive is packed or downloaded to (inside the staging task's directory). */
  scratch: string;
}

export function buildCachePlace(cachesDir: string, appId: string, taskDir: string): BuildCachePlace {
  return { appId, dir: join(cachesDir, appId), stampFile: join(cachesDir, `${appId}.stamp`), scratch: join(taskDir, 'cache.tgz') };
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function readStamp(file: string): Promise<BuildCacheStamp | null> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as Partial<BuildCacheStamp>;
    return typeof s.digest === 'string' && typeof s.content_hash === 'string' ? { digest: s.digest, content_hash: s.content_hash } : null;
  } catch {
    return null;
  }
}

async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir).catch(() => [])).length === 0;
}

async function freshDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await chown(dir, VCAP.uid, VCAP.gid);
}

/**
 * Before staging: makes the local copy match the blob. Never fails the staging: a cache that cannot
 * be restored only makes it slower, so it is started empty and the staging log says why.
 */
export async function restoreBuildCache(place: BuildCachePlace, blobs: Blobstore, say: (line: string) => void): Promise<void> {
  const key = blobKeys.buildCache(place.appId);
  try {
    await mkdir(place.dir, { recursive: true });
    // Used now: the DEA's sweep removes caches by age, and a cache hit rewrites nothing.
    const now = new Date();
    await utimes(place.dir, now, now);
    await utimes(place.stampFile, now, now).catch(() => {});
    const blob = await blobs.stat(key);
    const stamp = await readStamp(place.stampFile);
    if (!blob) {
      say((await isEmptyDir(place.dir)) ? '-----> No build cache yet' : '-----> Build cache is on this node');
      return;
    }
    if (stamp?.digest === blob.digest && !(await isEmptyDir(place.dir))) {
      say('-----> Build cache is on this node');
      return;
    }
    say(`-----> Restoring build cache (${mb(blob.size)} MB)`);
    if (!(await blobs.getFile(key, place.scratch))) {
      say('-----> The build cache went away meanwhile: starting without one');
      return;
    }
    // The archive was packed from what a staging container wrote: checked like any upload.
    const { contentHash } = await inspectArchive(place.scratch);
    await freshDir(place.dir);
    await extractArchive(place.scratch, place.dir, VCAP);
    await writeFile(place.stampFile, JSON.stringify({ digest: blob.digest, content_hash: contentHash }));
  } catch (err) {
    say(`-----> Build cache could not be restored (${(err as Error).message}): starting without one`);
    await freshDir(place.dir).catch(() => {});
    await rm(place.stampFile, { force: true }).catch(() => {});
  } finally {
    await rm(place.scratch, { force: true }).catch(() => {});
  }
}

/**
 * The regular files and links under `dir` (relative, / separated) and their size. Devices, FIFOs
 * and sockets that build code left behind are not kept. Links are packed as links, never followed.
 */
async function cacheEntries(dir: string): Promise<{ files: string[]; bytes: number }> {
  const files: string[] = [];
  let bytes = 0;
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() || entry.isSymbolicLink()) {
        files.push(relative(dir, full).split(sep).join('/'));
        bytes += (await lstat(full)).size;
      }
    }
  };
  await walk(dir);
  return { files: files.sort(), bytes };
}

/**
 * After a successful staging: packs the local copy and puts it in the blobstore when its content
 * changed, unless it is bigger than `maxMb`. A failure here is reported and does not fail the staging.
 */
export async function saveBuildCache(place: BuildCachePlace, blobs: Blobstore, maxMb: number, say: (line: string) => void): Promise<void> {
  const key = blobKeys.buildCache(place.appId);
  try {
    const { files, bytes } = await cacheEntries(place.dir);
    if (files.length === 0) return;
    if (bytes > maxMb * 1024 * 1024) {
      say(`-----> Build cache is ${mb(bytes)} MB, above NAP_BUILD_CACHE_MAX_MB (${maxMb}): not saved`);
      return;
    }
    await packArchive(place.dir, place.scratch, files);
    const { contentHash } = await inspectArchive(place.scratch);
    const stamp = await readStamp(place.stampFile);
    const blob = await blobs.stat(key);
    if (stamp?.content_hash === contentHash && blob && blob.digest === stamp.digest) {
      say(`-----> Build cache unchanged (${mb(bytes)} MB)`);
      return;
    }
    say(`-----> Saving build cache (${mb((await stat(place.scratch)).size)} MB)`);
    await blobs.putFile(key, place.scratch);
    const saved = await blobs.stat(key);
    if (saved) await writeFile(place.stampFile, JSON.stringify({ digest: saved.digest, content_hash: contentHash }));
  } catch (err) {
    say(`-----> Build cache not saved: ${(err as Error).message}`);
  } finally {
    await rm(place.scratch, { force: true }).catch(() => {});
  }
}
