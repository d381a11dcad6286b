import { lstat, mkdir, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { create as createTar, extract as extractTar } from 'tar';
import type { DockerRuntime } from '../runtime/docker-runtime.js';

interface SavedManifest {
  Config: string;
  Layers: string[];
}

/**
 * `docker save` of an app image, minus the layers it shares with the stack image, gzip'd into
 * `outFile`. Every node has the stack, and dockerd (20.10, checked: image/tarexport/load.go looks a
 * layer up by its chain id before it opens its tar) never reads the tar of a layer it already has,
 * so the droplet carries only what the Dockerfile added: kilobytes instead of the stack's 350 MB.
 * The manifest still names the stripped tars; a node without the stack's layers fails to load it.
 *
 * The save is spooled to `workDir` because its manifest comes last in the stream, after the
 * layers it tells apart.
 */
export async function saveWithoutStackLayers(
  runtime: DockerRuntime,
  image: string,
  stackImage: string,
  workDir: string,
  outFile: string,
): Promise<{ strippedLayers: number }> {
  const [app, stack] = await Promise.all([runtime.inspectImage(image), runtime.inspectImage(stackImage)]);
  if (!app) throw new Error(`image ${image} is not on this node`);
  const appLayers = app.RootFS.Layers ?? [];
  const stackLayers = stack?.RootFS.Layers ?? [];
  // Only a common prefix is the stack's: a layer's identity (chain id) includes all below it.
  let shared = 0;
  while (shared < appLayers.length && shared < stackLayers.length && appLayers[shared] === stackLayers[shared]) shared++;

  const dir = join(workDir, 'image-save');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    await pipeline(await runtime.saveImage(image), extractTar({ cwd: dir }));
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as SavedManifest[];
    if (manifest.length !== 1) throw new Error(`docker save of ${image} holds ${manifest.length} images, expected 1`);
    const config = JSON.parse(await readFile(join(dir, manifest[0].Config), 'utf8')) as { rootfs: { diff_ids: string[] } };
    const { Layers: layerTars } = manifest[0];
    if (layerTars.length !== config.rootfs.diff_ids.length) throw new Error(`docker save of ${image}: ${layerTars.length} layer tars for ${config.rootfs.diff_ids.length} layers`);

    const strip = new Set<string>();
    for (let i = 0; i < shared; i++) if (config.rootfs.diff_ids[i] === stackLayers[i]) strip.add(dirname(normalize(layerTars[i])));
    // The save links a layer repeated higher up to its first tar; such a tar must stay.
    for (const kept of layerTars.slice(shared)) {
      const path = join(dir, kept);
      const info = await lstat(path).catch(() => null);
      if (info?.isSymbolicLink()) strip.delete(dirname(normalize(join(dirname(kept), await readlink(path)))));
      strip.delete(dirname(normalize(kept)));
    }
    for (const d of strip) await rm(join(dir, d), { recursive: true, force: true });
    await createTar({ file: outFile, gzip: true, cwd: dir, portable: true }, await readdir(dir));
    return { strippedLayers: strip.size };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
