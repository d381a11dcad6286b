import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Blobstore } from '@nap/common';
import { buildCachePlace, restoreBuildCache, saveBuildCache } from '../src/staging/build-cache.js';

const root = mkdtempSync(join(tmpdir(), 'nap-build-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The blobstore as files in a folder, with the digest of their bytes. */
function folderBlobstore(dir: string): Blobstore & { puts: number } {
  const path = (key: string) => join(dir, encodeURIComponent(key));
  const store = {
    puts: 0,
    async putFile(key: string, file: string) {
      store.puts += 1;
      copyFileSync(file, path(key));
    },
    async getFile(key: string, file: string) {
      if (!existsSync(path(key))) return false;
      copyFileSync(path(key), file);
      return true;
    },
    async has(key: string) {
      return existsSync(path(key));
    },
    async stat(key: string) {
      if (!existsSync(path(key))) return null;
      return { size: statSync(path(key)).size, digest: createHash('sha256').update(readFileSync(path(key))).digest('hex') };
    },
    async delete(key: string) {
      rmSync(path(key), { force: true });
    },
    async list() {
      return [];
    },
  };
  return store;
}

const appId = '6f1c2a8e-1111-4222-8333-944455556666';

test('saved once, unchanged the second time, restored on a node without it, and not saved above the cap', async () => {
  mkdirSync(join(root, 'blobs'));
  const blobs = folderBlobstore(join(root, 'blobs'));
  const lines: string[] = [];
  const say = (l: string) => lines.push(l);
  const nodeA = buildCachePlace(join(root, 'a', 'caches'), appId, join(root, 'a', 'task'));
  mkdirSync(join(root, 'a', 'task'), { recursive: true });

  await restoreBuildCache(nodeA, blobs, say);
  assert.deepEqual(lines, ['-----> No build cache yet']);

  mkdirSync(join(nodeA.dir, 'npm'), { recursive: true });
  writeFileSync(join(nodeA.dir, 'npm', 'pkg.tgz'), 'x'.repeat(5000));
  symlinkSync('npm/pkg.tgz', join(nodeA.dir, 'latest'));
  await saveBuildCache(nodeA, blobs, 512, say);
  assert.match(lines.at(-1)!, /^-----> Saving build cache \(\d+\.\d MB\)$/);
  assert.equal(blobs.puts, 1);

  await saveBuildCache(nodeA, blobs, 512, say);
  assert.match(lines.at(-1)!, /^-----> Build cache unchanged/);
  assert.equal(blobs.puts, 1, 'an unchanged cache is not uploaded again');

  await restoreBuildCache(nodeA, blobs, say);
  assert.equal(lines.at(-1), '-----> Build cache is on this node');

  const nodeB = buildCachePlace(join(root, 'b', 'caches'), appId, join(root, 'b', 'task'));
  mkdirSync(join(root, 'b', 'task'), { recursive: true });
  await restoreBuildCache(nodeB, blobs, say);
  assert.match(lines.at(-1)!, /^-----> Restoring build cache \(\d+\.\d MB\)$/);
  assert.equal(readFileSync(join(nodeB.dir, 'latest'), 'utf8'), 'x'.repeat(5000));
  assert.equal(statSync(join(nodeB.dir, 'npm', 'pkg.tgz')).uid, 2000, 'restored files belong to vcap');

  writeFileSync(join(nodeB.dir, 'big'), Buffer.alloc(2 * 1024 * 1024));
  await saveBuildCache(nodeB, blobs, 1, say);
  assert.match(lines.at(-1)!, /^-----> Build cache is 2\.\d MB, above NAP_BUILD_CACHE_MAX_MB \(1\): not saved$/);
  assert.equal(blobs.puts, 1);
});

test('a cache archive that would write outside its folder is not restored: the staging starts cold', async () => {
  const blobs = folderBlobstore(join(root, 'blobs'));
  const { packArchive } = await import('@nap/common');
  const evil = join(root, 'evil');
  mkdirSync(evil);
  symlinkSync('/etc', join(evil, 'out'));
  await packArchive(evil, join(root, 'evil.tgz'), ['out']);
  await blobs.putFile(`caches/${appId}.tgz`, join(root, 'evil.tgz'));
  const nodeC = buildCachePlace(join(root, 'c', 'caches'), appId, join(root, 'c', 'task'));
  mkdirSync(join(root, 'c', 'task'), { recursive: true });
  const lines: string[] = [];
  await restoreBuildCache(nodeC, blobs, (l) => lines.push(l));
  assert.match(lines.at(-1)!, /Build cache could not be restored \(.*points outside.*\): starting without one/);
  assert.ok(!existsSync(join(nodeC.dir, 'out')));
});
