import { createHash } from 'node:crypto';
import { lstat, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { blobKeys, hashFile, type msg } from '@nap/common';
import { DEFAULT_BUILD_LIMITS } from '../images/build-limits.js';
import { buildDockerfile } from '../images/dockerfile-build.js';
import { saveWithoutStackLayers } from '../images/image-strip.js';
import { shellCommand } from '../images/shell-words.js';
import type { DropletBuilder, StagedDroplet, StagingDeps } from './staging.js';

export const DOCKERFILE_BUILDPACK = 'dockerfile';


/**
 * A package with a top-level regular file `Dockerfile` is built with `docker build` when no
 * buildpack is named, or when `dockerfile` is. A symlink named Dockerfile does not count.
 */
export async function isDockerfileApp(appDir: string, buildpack: string | undefined): Promise<boolean> {
  if (buildpack && buildpack !== DOCKERFILE_BUILDPACK) return false;
  const info = await lstat(join(appDir, 'Dockerfile')).catch(() => null);
  if (info?.isFile()) return true;
  if (buildpack === DOCKERFILE_BUILDPACK) throw new Error('the dockerfile buildpack was named but the app has no Dockerfile at its top');
  return false;
}

/** Image tags allow fewer characters than task ids. */
function tagOf(req: msg.StagingStart): string {
  const task = createHash('sha256').update(req.task_id).digest('hex').slice(0, 12);
  return `nap/droplet:${req.app_id}-${task}`;
}


/**
 * Dockerfile app → image → droplet. The droplet is the image as `docker save` writes it, minus the
 * stack's layers; the image stays on this node, so instance 0 here starts without a load.
 */
async function stageDockerfile(
  req: msg.StagingStart,
  deps: StagingDeps,
  taskDir: string,
  appDir: string,
  say: (line: string) => void,
): Promise<StagedDroplet> {
  const started = Date.now();
  say('-----> Building the Dockerfile');
  const tag = tagOf(req);
  const { id: imageId, isNew } = await buildDockerfile(
    deps.runtime,
    {
      contextDir: appDir,
      tag,
      labels: { 'nap.kind': 'droplet-image', 'nap.app_id': req.app_id },
      memoryMb: req.memory_mb,
      // A build runs RUN steps as root with Docker's default capabilities: it gets less time than a buildpack.
      timeoutMs: Math.min(deps.dockerfileBuild?.timeoutS ?? deps.timeoutS, deps.timeoutS) * 1000,
      limits: {
        name: `build-${tag.slice(tag.lastIndexOf('-') + 1)}`,
        cpuShares: deps.dockerfileBuild?.cpuShares ?? DEFAULT_BUILD_LIMITS.cpuShares,
        pidsMax: deps.dockerfileBuild?.pidsMax ?? DEFAULT_BUILD_LIMITS.pidsMax,
      },
      say,
    },
    deps.stackImage,
  );
  const droplet = join(taskDir, 'droplet.tgz');
  try {
    say(`-----> Saving image ${imageId.replace(/^sha256:/, '').slice(0, 12)} without the layers of ${deps.stackImage}`);
    // By tag, so that the copies other nodes load carry it too and are never dangling.
    const { strippedLayers } = await saveWithoutStackLayers(deps.runtime, tag, deps.stackImage, taskDir, droplet);
    if (strippedLayers === 0) say(`       (it shares no layers with ${deps.stackImage}: the droplet holds the whole image)`);
    const info = await deps.runtime.inspectImage(imageId);
    const argv = [...(info?.Config.Entrypoint ?? []), ...(info?.Config.Cmd ?? [])];
    const startCommand = argv.length > 0 ? shellCommand(argv) : '';
    const hash = await hashFile(droplet);
    const key = blobKeys.droplet(req.app_id, hash);
    await deps.blobs.putFile(key, droplet);
    const size = (await stat(droplet)).size;
    await rename(droplet, deps.dropletPath(hash));
    say(`-----> Droplet ${hash.slice(0, 12)} (image, ${(size / 1024).toFixed(0)} KB) staged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return {
      droplet_type: 'image',
      image_id: imageId,
      droplet_key: key,
      droplet_hash: hash,
      detected_buildpack: DOCKERFILE_BUILDPACK,
      start_command: startCommand,
      process_types: startCommand ? { web: startCommand } : {},
    };
  } catch (err) {
    await rm(droplet, { force: true });
    await deps.runtime.removeImage(tag);
    // An image the engine had before is another staging's droplet, still in use.
    if (isNew) await deps.runtime.removeImage(imageId);
    throw err;
  }
}

export const dockerfileStaging: DropletBuilder = {
  build: (req, deps, place, say) => stageDockerfile(req, deps, place.dir, place.app, say),
};
