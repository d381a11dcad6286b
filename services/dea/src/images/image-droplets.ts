import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type Docker from 'dockerode';
import type { DropletCache } from '../droplets/droplet-cache.js';
import type { DockerRuntime } from '../runtime/docker-runtime.js';
import { engineError, readProgress } from './engine-progress.js';

export interface ImageDropletRef {
  droplet_key: string;
  droplet_hash: string;
  image_id?: string;
}

/**
 * Image droplets on this node: an image already here (the staging node, or an earlier instance) is
 * used as it is; otherwise its droplet is fetched (once per node, through the droplet cache) and
 * `docker load`ed, once per image even when several instances start together.
 */
export class ImageDroplets {
  private readonly loading = new Map<string, Promise<Docker.ImageInspectInfo>>();

  constructor(
    private readonly runtime: DockerRuntime,
    private readonly droplets: DropletCache,
    private readonly stackImage: string,
  ) {}

  async ensure(ref: ImageDropletRef): Promise<Docker.ImageInspectInfo> {
    const imageId = ref.image_id;
    if (!imageId) throw new Error(`droplet ${ref.droplet_key} is an image droplet without an image id: stage the app again`);
    const here = await this.runtime.inspectImage(imageId);
    if (here) return here;
    let running = this.loading.get(imageId);
    if (!running) {
      running = this.load(ref, imageId).finally(() => this.loading.delete(imageId));
      this.loading.set(imageId, running);
    }
    return running;
  }

  private async load(ref: ImageDropletRef, imageId: string): Promise<Docker.ImageInspectInfo> {
    const path = await this.droplets.ensure(ref.droplet_key, ref.droplet_hash);
    const progress = await this.runtime.loadImage(createReadStream(path).pipe(createGunzip()));
    let error: string | null = null;
    await readProgress(progress, (m) => {
      error = engineError(m) ?? error;
    });
    if (error) {
      // The droplet leaves out the stack's layers; a node whose stack differs cannot fill them in.
      const why = /layer\.tar|no such file/i.test(error)
        ? `this node lacks layers of the stack image the droplet was staged on (${this.stackImage} differs between nodes: run deploy/setup on each)`
        : error;
      throw new Error(`docker load of droplet ${ref.droplet_hash.slice(0, 12)} failed: ${why}`);
    }
    const info = await this.runtime.inspectImage(imageId);
    if (!info) throw new Error(`droplet ${ref.droplet_hash.slice(0, 12)} was loaded but image ${imageId} is not among what it held`);
    return info;
  }
}
