import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { StorageType, type ObjectStore } from 'nats';
import type { Bus } from './bus/bus.js';

/** Where packages, droplets and build caches live: reachable from every node. */
export interface Blobstore {
  putFile(key: string, file: string): Promise<void>;
  /** Writes the blob to `file` (atomically); false when there is no such blob. */
  getFile(key: string, file: string): Promise<boolean>;
  has(key: string): Promise<boolean>;
  /** Size and digest (of the stored bytes) of a blob, or null when there is none. */
  stat(key: string): Promise<{ size: number; digest: string } | null>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
}

export const BLOB_BUCKET = 'nap-blobs';

/** A JetStream object store: replicated with the NATS cluster, so no extra engine to run. */
export class JetStreamBlobstore implements Blobstore {
  private constructor(private readonly os: ObjectStore) {}

  static async open(bus: Bus, replicas = 1): Promise<JetStreamBlobstore> {
    const os = await bus.nc.jetstream().views.os(BLOB_BUCKET, { storage: StorageType.File, replicas });
    return new JetStreamBlobstore(os);
  }

  async putFile(key: string, file: string): Promise<void> {
    const stream = Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>;
    await this.os.put({ name: key }, stream);
  }

  async getFile(key: string, file: string): Promise<boolean> {
    const result = await this.os.get(key);
    if (!result) return false;
    await mkdir(dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}.partial`;
    try {
      await pipeline(Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>), createWriteStream(partial));
      const err = await result.error;
      if (err) throw err;
      await rename(partial, file);
    } catch (e) {
      await rm(partial, { force: true });
      throw e;
    }
    return true;
  }

  async has(key: string): Promise<boolean> {
    const info = await this.os.info(key);
    return info !== null && !info.deleted;
  }

  async stat(key: string): Promise<{ size: number; digest: string } | null> {
    const info = await this.os.info(key);
    return info && !info.deleted ? { size: info.size, digest: info.digest } : null;
  }

  async delete(key: string): Promise<void> {
    if (await this.has(key)) await this.os.delete(key);
  }

  async list(prefix: string): Promise<string[]> {
    const all = await this.os.list();
    return all.filter((i) => !i.deleted && i.name.startsWith(prefix)).map((i) => i.name);
  }
}
