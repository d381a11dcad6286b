import { randomBytes } from 'node:crypto';
import { access, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Blobstore, hashFile, msg } from '@nap/common';

/** The droplet's bytes are not the ones its hash names: a corrupted or replaced blob, never run. */
export class DropletMismatch extends Error {
  constructor(key: string, expected: string, actual: string) {
    super(`droplet ${key} does not match its hash (expected ${expected.slice(0, 12)}, got ${actual.slice(0, 12)}): the blob is corrupt; push the app again to stage a new droplet`);
    this.name = 'DropletMismatch';
  }
}

/**
 * Droplets on this node's disk, by hash: a droplet is fetched from the blobstore once per node,
 * and only kept when its bytes hash to the name it is kept under. So a file in this directory is
 * always the droplet its name says, whoever could write the blobstore.
 */
export class DropletCache {
  private readonly fetching = new Map<string, Promise<string>>();

  constructor(
    private readonly dir: string,
    private readonly blobs: Blobstore,
  ) {}

  pathOf(hash: string): string {
    // The bus schemas already refuse any other hash; this keeps a caller that skipped them off other paths.
    if (!msg.Sha256.safeParse(hash).success) throw new Error(`not a droplet hash: ${JSON.stringify(hash.slice(0, 80))}`);
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
      running = this.fetch(key, hash, path).finally(() => this.fetching.delete(hash));
      this.fetching.set(hash, running);
    }
    return running;
  }

  private async fetch(key: string, hash: string, path: string): Promise<string> {
    const download = `${path}.${randomBytes(4).toString('hex')}.download`;
    try {
      if (!(await this.blobs.getFile(key, download))) throw new Error(`droplet ${key} is not in the blobstore: push the app again to stage a new droplet`);
      const actual = await hashFile(download);
      if (actual !== hash) throw new DropletMismatch(key, hash, actual);
      await rename(download, path);
      return path;
    } finally {
      await rm(download, { force: true });
    }
  }
}
