import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { headers, type JetStreamClient, type JetStreamManager, JSONCodec, JsHeaders, nuid, StorageType, type ObjectStore } from 'nats';
import { Backoff, retry } from './backoff.js';
import type { Bus } from './bus/bus.js';

/**
 * What JetStream answers while it elects new leaders after a server of its cluster went away (a
 * few seconds): a request with no answer in time, "temporarily unavailable", nobody listening.
 * Reads meet them and try again; nothing else does.
 */
const LEADERLESS = /TIMEOUT|503|temporarily unavailable|NO_RESPONDERS|no responders/i;
const READ_RETRY_MS = 20_000;

const OPEN_RETRY_MS = 60_000;
const leaderless = (err: unknown) => LEADERLESS.test(`${(err as { code?: string }).code ?? ''} ${(err as Error).message ?? ''}`);

function readRetrying<T>(read: () => Promise<T>): Promise<T> {
  return retry(read, { backoff: new Backoff({ minMs: 250, maxMs: 2_000 }), retryIf: leaderless, withinMs: READ_RETRY_MS });
}

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
/** nats.js's chunk size for objects (unless the server's max_payload is smaller); os.get reads any size. */
const CHUNK_BYTES = 128 * 1024;
/** Chunks in flight at once: enough to keep a loopback link busy, few enough to stop soon after a refusal. */
const CHUNKS_IN_FLIGHT = 16;

/** A JetStream object store: replicated with the NATS cluster, so no extra engine to run. */
export class JetStreamBlobstore implements Blobstore {
  private constructor(
    private readonly os: ObjectStore,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly chunkBytes: number,
  ) {}

  static async open(bus: Bus, replicas = 1): Promise<JetStreamBlobstore> {
    const js = bus.nc.jetstream();
    // A program that starts while JetStream elects its leaders (a cluster forming) waits for it rather than exiting.
    const os = await retry(() => js.views.os(BLOB_BUCKET, { storage: StorageType.File, replicas }), {
      backoff: new Backoff({ minMs: 250, maxMs: 2_000 }),
      retryIf: leaderless,
      withinMs: OPEN_RETRY_MS,
    });
    // A chunk is one message: a server with a smaller max_payload than nats.js's chunk refuses it.
    const chunkBytes = Math.min(CHUNK_BYTES, bus.nc.info?.max_payload ?? CHUNK_BYTES);
    return new JetStreamBlobstore(os, js, await bus.nc.jetstreamManager(), chunkBytes);
  }

  /**
   * Written as nats.js's `ObjectStore.put` writes an object (chunks under a fresh nuid, then the
   * meta record as a rollup; ADR-20), so `os.get` reads it. Not `put` itself: it publishes every
   * chunk without waiting and looks at the answers only at the end, so a store that fills up
   * mid-upload ("insufficient resources") rejects publishes nobody listens to yet, and Node ends
   * the process (a full JetStream took the controller down). Here every answer is awaited within
   * a small window; on a refusal the chunks written are purged and the refusal is thrown.
   */
  async putFile(key: string, file: string): Promise<void> {
    const old = await this.os.info(key);
    const id = nuid.next();
    const chunkSubject = `$O.${BLOB_BUCKET}.C.${id}`;
    const sha = createHash('sha256');
    let size = 0;
    let chunks = 0;
    const inFlight: Promise<unknown>[] = [];
    let metaSent = false;
    try {
      for await (const piece of createReadStream(file, { highWaterMark: this.chunkBytes }) as AsyncIterable<Buffer>) {
        sha.update(piece);
        size += piece.length;
        chunks++;
        const ack = this.js.publish(chunkSubject, piece);
        ack.catch(() => {}); // awaited below; this only keeps an early refusal from being "unhandled"
        inFlight.push(ack);
        if (inFlight.length >= CHUNKS_IN_FLIGHT) await inFlight.shift();
      }
      await Promise.all(inFlight);
      const meta = {
        name: key,
        description: '',
        options: { max_chunk_size: this.chunkBytes },
        bucket: BLOB_BUCKET,
        nuid: id,
        size,
        chunks,
        mtime: new Date().toISOString(),
        digest: `SHA-256=${base64UrlPadded(sha.digest())}`,
        deleted: false,
      };
      const h = headers();
      h.set(JsHeaders.RollupHdr, JsHeaders.RollupValueSubject);
      metaSent = true;
      await this.js.publish(`$O.${BLOB_BUCKET}.M.${base64UrlPadded(Buffer.from(key))}`, JSONCodec().encode(meta), { headers: h });
    } catch (err) {
      // A meta record stored whose answer was lost (a timeout, a NATS blip) is a finished upload:
      // purging its chunks now would leave the key naming chunks that are gone.
      if (metaSent && (await this.os.info(key).catch(() => null))?.nuid === id) return this.purgeOld(old);
      await Promise.allSettled(inFlight);
      await this.jsm.streams.purge(`OBJ_${BLOB_BUCKET}`, { filter: chunkSubject }).catch(() => {});
      throw err;
    }
    await this.purgeOld(old);
  }

  /** The new object is live: the old one's chunks go (as nats.js does; a failure here only wastes room). */
  private async purgeOld(old: { nuid: string } | null): Promise<void> {
    if (old) await this.jsm.streams.purge(`OBJ_${BLOB_BUCKET}`, { filter: `$O.${BLOB_BUCKET}.C.${old.nuid}` }).catch(() => {});
  }

  async getFile(key: string, file: string): Promise<boolean> {
    return readRetrying(() => this.getFileOnce(key, file));
  }

  private async getFileOnce(key: string, file: string): Promise<boolean> {
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
    const info = await readRetrying(() => this.os.info(key));
    return info !== null && !info.deleted;
  }

  async stat(key: string): Promise<{ size: number; digest: string } | null> {
    const info = await readRetrying(() => this.os.info(key));
    return info && !info.deleted ? { size: info.size, digest: info.digest } : null;
  }

  async delete(key: string): Promise<void> {
    if (await this.has(key)) await this.os.delete(key);
  }

  async list(prefix: string): Promise<string[]> {
    const all = await readRetrying(() => this.os.list());
    return all.filter((i) => !i.deleted && i.name.startsWith(prefix)).map((i) => i.name);
  }
}

/** ADR-20's encoding of names and digests: base64url with its padding (Node's 'base64url' drops it). */
function base64UrlPadded(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
