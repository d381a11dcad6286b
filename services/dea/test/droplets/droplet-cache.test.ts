import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Blobstore } from '@nap/common';
import { DropletCache, DropletMismatch } from '../../src/droplets/droplet-cache.js';

/** A blobstore of files in a directory: the neighbour faked, the cache under test is real. */
function folderBlobstore(dir: string): Blobstore {
  return {
    putFile: (key, file) => copyFile(file, join(dir, encodeURIComponent(key))),
    getFile: async (key, file) => copyFile(join(dir, encodeURIComponent(key)), file).then(() => true, () => false),
    has: async () => true,
    stat: async () => null,
    delete: async () => {},
    list: async () => [],
  };
}

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nap-droplet-cache-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('a droplet whose bytes hash to its name is kept; other bytes are refused and leave nothing', async () => {
  const blobDir = join(root, 'blobs');
  const cacheDir = join(root, 'droplets');
  await mkdir(blobDir);
  await mkdir(cacheDir);
  const blobs = folderBlobstore(blobDir);
  const good = Buffer.from('the droplet');
  const hash = createHash('sha256').update(good).digest('hex');
  const key = `droplets/3f1c2a9e-1111-4222-8333-444455556666/${hash}.tgz`;
  const src = join(root, 'src');
  await writeFile(src, 'something else entirely');
  await blobs.putFile(key, src);
  const cache = new DropletCache(cacheDir, blobs);
  await assert.rejects(cache.ensure(key, hash), (e: Error) => e instanceof DropletMismatch && /does not match its hash/.test(e.message));
  assert.deepEqual(await readdir(cacheDir), [], 'no copy or partial download stays');
  await writeFile(src, good);
  await blobs.putFile(key, src);
  assert.equal(await cache.ensure(key, hash), join(cacheDir, `${hash}.tgz`));
  assert.deepEqual(await readdir(cacheDir), [`${hash}.tgz`]);
  assert.throws(() => cache.pathOf('../../etc/passwd'), /not a droplet hash/);
});
