import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Blobstore } from '@nap/common';

/** Droplets on this node's disk, by hash: a droplet is fetched from the blobstore once per node. */
export class DropletCache {
  private readonly fetching = new Map<string, Promise<string>>();

  constructor(
    private readonly dir: string,
    private readonly blobs: Blobstore,
  ) {}

  pathOf(hash: string): string {
    return join(this.dir, `${hash}.tgz`);
  }

  async ensure(key: string, hash: string): Promise<string> {
    const path = this.pathOf(hash);
    try {
      await access(path);
      return path;
    } catch {
      // not here yet
    }
    let running = this.fetching.get(hash);
    if (!running) {
      running = this.blobs
        .getFile(key, path)
        .then((found) => {
          if (!found) throw new Error(`droplet ${key} is not in the blobstore`);
          return path;
        })
        .finally(() => this.fetching.delete(hash));
      this.fetching.set(hash, running);
    }
    return running;
  }
}
