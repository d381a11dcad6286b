import { createWriteStream, type WriteStream } from 'node:fs';
import { constants } from 'node:fs';
import { chown, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Blobstore, blobKeys, extractArchive, hashFile, inspectArchive, msg, packArchive } from '@nap/common';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { type DockerRuntime, VCAP } from '../runtime/docker-runtime.js';
import { releaseVariant, type StackVariants, stagingVariant } from '../images/stack-variants.js';
import { buildCachePlace, restoreBuildCache, saveBuildCache } from './build-cache.js';
import { prepareCustomBuildpacks } from './custom-buildpacks.js';
import { isDockerfileApp, stageDockerfile } from './dockerfile-staging.js';

export interface StagingDeps {
  deaId: string;
  stagingDir: string;
  cachesDir: string;
  buildpacksDir: string;
  lifecycleDir: string;
  stackImage: string;
  timeoutS: number;
  runtime: DockerRuntime;
  blobs: Blobstore;
  /** Where the finished droplet is kept on this node, so instance 0 starts without a download. */
  dropletPath: (hash: string) => string;
  /** Above it the build cache is not kept in the blobstore (NAP_BUILD_CACHE_MAX_MB; default 512). */
  buildCacheMaxMb?: number;
  /** Admin buildpacks extracted on this node (default: buildpacks/ beside cachesDir). */
  buildpackCacheDir?: string;
  /** Stack variant images (nap/stack:bookworm-jvm), built on this node when first needed. */
  variants: StackVariants;
  /** Dockerfile builds: their own (shorter) time limit, CPU weight and process cap. */
  dockerfileBuild?: { timeoutS: number; cpuShares: number; pidsMax: number };
}

export interface StagedDroplet extends msg.DropletRun {
  droplet_key: string;
  droplet_hash: string;
  detected_buildpack: string;
  start_command: string;
  process_types: Record<string, string>;
}

class StagingError extends Error {}


/** What the buildpack leaves in output/ is small; anything bigger is not what we asked for. */
const MAX_OUTPUT_FILE_BYTES = 64 * 1024;
/** As the API allows for a command, and the bus for a process type list (msg.StagingSucceeded). */
const MAX_COMMAND_CHARS = 8192;
const MAX_PROCESS_TYPES = 20;

/**
 * Reads a file the staging container wrote. Build code (an npm install script) could have put a
 * symlink there to a host file, a FIFO or /dev/zero, and this runs as root on the host: so the
 * file must be a regular file, opened without following links, and small.
 */
async function readOptional(path: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > MAX_OUTPUT_FILE_BYTES) return null;
    const buffer = Buffer.alloc(info.size);
    await handle.read(buffer, 0, info.size, 0);
    return buffer.toString('utf8').trim();
  } finally {
    await handle.close();
  }
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/**
 * One staging: package → buildpack in a container of the stack → droplet in the blobstore. The
 * log is written as it happens to staging/<task>/staging.log, which the directory server serves;
 * a `done` file next to it tells followers the log is complete.
 */
export async function stage(req: msg.StagingStart, deps: StagingDeps): Promise<StagedDroplet> {
  const dir = join(deps.stagingDir, req.task_id);
  const work = { app: join(dir, 'app'), output: join(dir, 'output'), cache: join(deps.cachesDir, req.app_id) };
  await mkdir(dir, { recursive: true });
  const log = createWriteStream(join(dir, 'staging.log'), { flags: 'a' });
  const say = (line: string) => log.write(`${line}\n`);
  let cache: ReturnType<typeof buildCachePlace> | undefined;
  try {
    for (const d of Object.values(work)) {
      await mkdir(d, { recursive: true });
      await chown(d, VCAP.uid, VCAP.gid);
    }
    say(`-----> Downloading app package (${req.package_hash.slice(0, 12)})`);
    const pkg = join(dir, 'package.tgz');
    if (!(await deps.blobs.getFile(req.package_key, pkg))) throw new StagingError(`the package ${req.package_key} is not in the blobstore`);
    // The package is stored by the hash of its content: bytes that hash otherwise are not this app's bits.
    const { contentHash } = await inspectArchive(pkg);
    if (contentHash !== req.package_hash) {
      throw new StagingError(`the package ${req.package_key} does not match its hash (expected ${req.package_hash.slice(0, 12)}, got ${contentHash.slice(0, 12)}): the blob is corrupt; push the app again`);
    }
    await extractArchive(pkg, work.app, VCAP);
    await rm(pkg, { force: true });
    // A custom buildpack named for an app with a Dockerfile wins over the Dockerfile.
    if (!req.custom_buildpack && (await isDockerfileApp(work.app, req.buildpack))) return await stageDockerfile(req, deps, dir, work.app, say);
    // A custom buildpack brings its own needs: the jvm variant is for the built-in java one.
    const image = await deps.variants.ensure(req.custom_buildpack ? undefined : await stagingVariant(work.app, req.buildpack), say);
    cache = buildCachePlace(deps.cachesDir, req.app_id, dir);
    await restoreBuildCache(cache, deps.blobs, say);
    const custom = await prepareCustomBuildpacks(
      req,
      dir,
      { blobs: deps.blobs, cacheDir: deps.buildpackCacheDir ?? join(dirname(deps.cachesDir), 'buildpacks'), timeoutMs: deps.timeoutS * 1000 },
      say,
    ).catch((err: Error) => {
      throw new StagingError(err.message);
    });

    const started = Date.now();
    const exit = await deps.runtime.runToCompletion(
      {
        name: `nap-staging-${req.app_name}-${req.task_id.slice(0, 8)}`,
        image,
        cmd: ['/tmp/lifecycle/builder'],
        env: {
          ...req.env,
          HOME: '/home/vcap',
          NAP_BUILDPACK: req.buildpack ?? '',
          npm_config_cache: '/tmp/cache/npm',
          npm_config_update_notifier: 'false',
          npm_config_fund: 'false',
          npm_config_audit: 'false',
          ...custom.env,
        },
        workingDir: '/tmp/app',
        binds: [
          `${work.app}:/tmp/app`,
          `${work.cache}:/tmp/cache`,
          `${work.output}:/tmp/output`,
          `${deps.buildpacksDir}:/tmp/buildpacks:ro`,
          `${deps.lifecycleDir}:/tmp/lifecycle:ro`,
          ...custom.binds,
        ],
        memoryMb: req.memory_mb,
        labels: { 'nap.kind': 'staging', 'nap.dea': deps.deaId, 'nap.app_id': req.app_id, 'nap.task_id': req.task_id },
      },
      log,
      deps.timeoutS * 1000,
    );
    if (exit.timedOut) throw new StagingError(`staging took longer than ${deps.timeoutS} s and was stopped`);
    if (exit.exitCode !== 0) {
      const reason = await readOptional(join(work.output, 'error'));
      const tail = lastLines(await readFile(join(dir, 'staging.log'), 'utf8').catch(() => ''), 5);
      throw new StagingError(reason ?? `the buildpack failed (exit ${exit.exitCode}${exit.oomKilled ? ', out of memory' : ''}):\n${tail}`);
    }

    const buildpack = custom.label ?? (await readOptional(join(work.output, 'buildpack'))) ?? 'unknown';
    const release = (parseYaml((await readOptional(join(work.output, 'release.yml'))) ?? '') ?? {}) as {
      default_process_types?: Record<string, unknown>;
      stack_variant?: unknown;
    };
    const stackVariant = releaseVariant(release);
    // Only what the bus carries: a buildpack's odd type name (or a huge command) would make the whole reply undeliverable.
    const processTypes = Object.fromEntries(
      Object.entries(release.default_process_types ?? {})
        .filter((e): e is [string, string] => typeof e[1] === 'string' && msg.ProcessType.safeParse(e[0]).success && e[1].length <= MAX_COMMAND_CHARS)
        .slice(0, MAX_PROCESS_TYPES),
    );
    const startCommand = processTypes.web ?? '';
    await writeFile(join(dir, 'staging_info.yml'), toYaml({ detected_buildpack: buildpack, start_command: startCommand }));

    const droplet = join(dir, 'droplet.tgz');
    await packArchive(dir, droplet, ['app', 'staging_info.yml']);
    const hash = await hashFile(droplet);
    const key = blobKeys.droplet(req.app_id, hash);
    await deps.blobs.putFile(key, droplet);
    const size = (await stat(droplet)).size;
    await rename(droplet, deps.dropletPath(hash));
    await saveBuildCache(cache, deps.blobs, deps.buildCacheMaxMb ?? 512, say);
    say(`-----> Droplet ${hash.slice(0, 12)} (${(size / 1024 / 1024).toFixed(1)} MB) staged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { droplet_type: 'tgz', stack_variant: stackVariant, droplet_key: key, droplet_hash: hash, detected_buildpack: buildpack, start_command: startCommand, process_types: processTypes };
  } catch (err) {
    say(`-----> Staging failed: ${(err as Error).message}`);
    // A compile that failed halfway may have left a broken cache (half a node_modules): the next
    // staging starts from the blobstore's copy, the last good one, rather than from this.
    if (cache) await Promise.all([rm(cache.dir, { recursive: true, force: true }), rm(cache.stampFile, { force: true })]).catch(() => {});
    throw err;
  } finally {
    await closeLog(log);
    await writeFile(join(dir, 'done'), '');
    for (const d of [work.app, work.output, join(dir, 'staging_info.yml'), join(dir, 'buildpacks')]) await rm(d, { recursive: true, force: true }).catch(() => {});
  }
}

function closeLog(log: WriteStream): Promise<void> {
  return new Promise((resolve) => log.end(() => resolve()));
}
