import { createWriteStream, type WriteStream } from 'node:fs';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive, inspectArchive, type msg } from '@nap/common';
import { VCAP } from '../runtime/docker-runtime.js';
import { buildpackStaging } from './buildpack-staging.js';
import { dockerfileStaging, isDockerfileApp } from './dockerfile-staging.js';
import { type StagedDroplet, type StagingDeps, StagingError, type StagingPlace } from './staging.js';

export type { StagedDroplet, StagingDeps } from './staging.js';

/**
 * One staging: package → its builder (a buildpack, or the app's Dockerfile) → droplet in the blobstore. The
 * log is written as it happens to staging/<task>/staging.log, which the directory server serves;
 * a `done` file next to it tells followers the log is complete.
 */
export async function stage(req: msg.StagingStart, deps: StagingDeps): Promise<StagedDroplet> {
  const dir = join(deps.stagingDir, req.task_id);
  await mkdir(dir, { recursive: true });
  const log = createWriteStream(join(dir, 'staging.log'), { flags: 'a' });
  const place: StagingPlace = { dir, app: join(dir, 'app'), output: join(dir, 'output'), cache: join(deps.cachesDir, req.app_id), log };
  const say = (line: string) => log.write(`${line}\n`);
  try {
    for (const d of [place.app, place.output, place.cache]) {
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
    await extractArchive(pkg, place.app, VCAP);
    await rm(pkg, { force: true });
    // A custom buildpack named for an app with a Dockerfile wins over the Dockerfile.
    const builder = !req.custom_buildpack && (await isDockerfileApp(place.app, req.buildpack)) ? dockerfileStaging : buildpackStaging;
    return await builder.build(req, deps, place, say);
  } catch (err) {
    say(`-----> Staging failed: ${(err as Error).message}`);
    throw err;
  } finally {
    await closeLog(log);
    await writeFile(join(dir, 'done'), '');
    for (const d of [place.app, place.output, join(dir, 'staging_info.yml'), join(dir, 'buildpacks')]) await rm(d, { recursive: true, force: true }).catch(() => {});
  }
}

function closeLog(log: WriteStream): Promise<void> {
  return new Promise((resolve) => log.end(() => resolve()));
}
