import { randomBytes } from 'node:crypto';
import { cp, lstat, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ADMIN_GIT_PROTOCOLS,
  type Blobstore,
  COMMIT_REF,
  extractArchive,
  gitBuildpackLabel,
  inspectArchive,
  makeCloneDir,
  type msg,
  removeCloneDir,
  runUnprivilegedGit,
} from '@nap/common';

/** Where custom buildpacks appear inside the staging container, one folder per buildpack. */
export const CUSTOM_BUILDPACKS_MOUNT = '/tmp/buildpacks-custom';
const CLONE_TIMEOUT_MS = 120_000;
const REQUIRED = ['bin/detect', 'bin/compile', 'bin/release'];

export class BuildpackUnavailable extends Error {}

export interface PreparedBuildpacks {
  /** Docker binds, each read-only. */
  binds: string[];
  /** NAP_BUILDPACK and NAP_BUILDPACK_DIR for a named one, NAP_CUSTOM_BUILDPACKS for the detection list. */
  env: Record<string, string>;
  /** What the droplet's detected_buildpack says when the named buildpack came from git: its URL. */
  label?: string;
}

export interface CustomBuildpackDeps {
  blobs: Blobstore;
  /** Admin buildpacks extracted on this node, one folder per content hash. */
  cacheDir: string;
  timeoutMs: number;
}

/**
 * Makes the custom buildpacks of a staging request ready on the host: a git one is cloned into the
 * task's directory, an admin archive is fetched once per node and kept by its hash. The named one
 * must be usable (else staging fails with why); of the detection list, an unusable one is skipped.
 */
export async function prepareCustomBuildpacks(
  req: msg.StagingStart,
  taskDir: string,
  deps: CustomBuildpackDeps,
  say: (line: string) => void,
): Promise<PreparedBuildpacks> {
  const mount = (bp: msg.CustomBuildpack, hostDir: string) => `${hostDir}:${CUSTOM_BUILDPACKS_MOUNT}/${bp.name}:ro`;
  if (req.custom_buildpack) {
    const bp = req.custom_buildpack;
    const dir = await fetchBuildpack(bp, taskDir, deps, say);
    return {
      binds: [mount(bp, dir)],
      env: { NAP_BUILDPACK: bp.name, NAP_BUILDPACK_DIR: `${CUSTOM_BUILDPACKS_MOUNT}/${bp.name}` },
      label: bp.git_url ? gitBuildpackLabel(bp.git_url, bp.ref) : undefined,
    };
  }
  const binds: string[] = [];
  const names: string[] = [];
  for (const bp of req.custom_buildpacks ?? []) {
    try {
      binds.push(mount(bp, await fetchBuildpack(bp, taskDir, deps, say)));
      names.push(bp.name);
    } catch (err) {
      say(`-----> Buildpack ${bp.name} is left out of detection: ${(err as Error).message}`);
    }
  }
  return { binds, env: names.length > 0 ? { NAP_CUSTOM_BUILDPACKS: names.join(' ') } : {} };
}

async function fetchBuildpack(bp: msg.CustomBuildpack, taskDir: string, deps: CustomBuildpackDeps, say: (line: string) => void): Promise<string> {
  if (bp.git_url) {
    const dir = join(taskDir, 'buildpacks', bp.name);
    await cloneBuildpack(bp.git_url, bp.ref, dir, deps.timeoutMs, say);
    await checkLayout(dir, gitBuildpackLabel(bp.git_url, bp.ref));
    return dir;
  }
  if (bp.blob_key && bp.hash) {
    const dir = join(deps.cacheDir, bp.hash);
    if (!(await lstat(dir).catch(() => null))?.isDirectory()) await fetchArchive(bp.blob_key, bp.hash, dir, deps);
    await checkLayout(dir, `buildpack ${bp.name}`);
    return dir;
  }
  throw new BuildpackUnavailable(`buildpack ${bp.name} has neither a git URL nor an archive`);
}

/** Downloads, checks (the hash must be the one the controller recorded) and extracts an admin buildpack, atomically. */
async function fetchArchive(key: string, hash: string, dir: string, deps: CustomBuildpackDeps): Promise<void> {
  await mkdir(deps.cacheDir, { recursive: true });
  const tmp = `${dir}.${randomBytes(4).toString('hex')}`;
  const file = `${tmp}.tgz`;
  try {
    if (!(await deps.blobs.getFile(key, file))) throw new BuildpackUnavailable(`its archive ${key} is not in the blobstore`);
    const { contentHash } = await inspectArchive(file);
    if (contentHash !== hash) throw new BuildpackUnavailable(`its archive ${key} does not have the recorded content`);
    await extractArchive(file, tmp);
    await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
      // Another staging extracted the same hash meanwhile: theirs is as good.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  } finally {
    await rm(file, { force: true });
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * git runs with what a user typed: as an unprivileged user with nothing of the host's (no keys,
 * agent, credential helpers or config; runUnprivilegedGit), no prompts, no hooks, a timeout, and
 * only the network protocols (file:// only when asked for, and the controller lets only admins name
 * it, as it does git:// and ssh://). The clone is made in that user's own temporary directory and
 * then moved into the task's, which is root's.
 */
async function cloneBuildpack(url: string, ref: string | undefined, dir: string, timeoutMs: number, say: (line: string) => void): Promise<void> {
  say(`-----> Cloning buildpack ${url}${ref ? ` (${ref})` : ''}`);
  const limit = Math.min(CLONE_TIMEOUT_MS, timeoutMs);
  const work = await makeCloneDir('nap-buildpack-');
  const tree = join(work, 'tree');
  const opts = { workDir: work, protocols: url.startsWith('file://') ? ADMIN_GIT_PROTOCOLS : ADMIN_GIT_PROTOCOLS.filter((p) => p !== 'file'), timeoutMs: limit };
  try {
    try {
      if (ref && COMMIT_REF.test(ref)) {
        await runUnprivilegedGit(['clone', '--quiet', '--no-checkout', '--', url, tree], opts);
        await runUnprivilegedGit(['-C', tree, 'checkout', '--quiet', ref, '--'], opts);
      } else {
        await runUnprivilegedGit(['clone', '--quiet', '--depth', '1', ...(ref ? ['--branch', ref] : []), '--', url, tree], opts);
      }
    } catch (err) {
      const e = err as { stderr?: string; killed?: boolean; message: string };
      const detail = e.killed ? `git took longer than ${Math.round(limit / 1000)} s` : (e.stderr || e.message).trim().split('\n').slice(-2).join(' ');
      throw new BuildpackUnavailable(`could not clone the buildpack ${url}${ref ? ` at ${ref}` : ''}: ${detail}`);
    }
    await rm(join(tree, '.git'), { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, '..'), { recursive: true });
    await rename(tree, dir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EXDEV') throw err;
      await cp(tree, dir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    });
  } finally {
    await removeCloneDir(work);
  }
}

async function checkLayout(dir: string, what: string): Promise<void> {
  for (const f of REQUIRED) {
    const info = await lstat(join(dir, f)).catch(() => null);
    if (!info?.isFile()) {
      throw new BuildpackUnavailable(`the ${what.startsWith('buildpack ') ? what : `buildpack at ${what}`} has no ${f}: a buildpack needs bin/detect, bin/compile and bin/release`);
    }
    if ((info.mode & 0o111) === 0) throw new BuildpackUnavailable(`${f} of the ${what.startsWith('buildpack ') ? what : `buildpack at ${what}`} is not executable (chmod +x ${f})`);
  }
}
