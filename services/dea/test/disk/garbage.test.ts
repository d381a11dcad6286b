import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { collectGarbage, collectImageGarbage, DEFAULT_GARBAGE_POLICY } from '../../src/disk/garbage.js';

const root = mkdtempSync(join(tmpdir(), 'nap-garbage-'));
after(() => rmSync(root, { recursive: true, force: true }));

const HOUR = 3600_000;
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const hash = (c: string) => c.repeat(64);

test('what nothing uses and is past its keep time goes; what is used, recent, or not of nap\'s naming stays', async () => {
  const dirs = { instances: join(root, 'instances'), staging: join(root, 'staging'), droplets: join(root, 'droplets'), caches: join(root, 'caches') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const now = Date.now();
  const make = (path: string, ageMs: number, dir = true) => {
    if (dir) mkdirSync(path, { recursive: true });
    else writeFileSync(path, 'x');
    const t = (now - ageMs) / 1000;
    utimesSync(path, t, t);
  };
  make(join(dirs.instances, id(1)), HOUR); // forgotten crash: goes
  make(join(dirs.instances, id(2)), HOUR); // a live instance: stays
  make(join(dirs.instances, id(3)), 60_000); // crashed a minute ago: stays
  make(join(dirs.instances, 'lost+found'), HOUR); // not nap's: stays
  make(join(dirs.staging, id(4)), 25 * HOUR); // an old staging: goes
  make(join(dirs.staging, id(5)), 25 * HOUR); // a staging running now: stays
  make(join(dirs.staging, id(6)), HOUR); // yesterday's log: stays
  make(join(dirs.droplets, `${hash('a')}.tgz`), 25 * HOUR, false); // no instance runs it: goes
  make(join(dirs.droplets, `${hash('b')}.tgz`), 25 * HOUR, false); // a live instance runs it: stays
  make(join(dirs.droplets, `${hash('c')}.tgz`), HOUR, false); // fetched an hour ago: stays
  make(join(dirs.caches, id(7)), 8 * 24 * HOUR); // a deleted (or long idle) app's build cache: goes
  make(join(dirs.caches, `${id(7)}.stamp`), 8 * 24 * HOUR, false); // and its stamp
  make(join(dirs.caches, id(8)), 24 * HOUR); // staged here yesterday: stays

  const removed = await collectGarbage(
    dirs,
    { instance: (i) => i === id(2), staging: (t) => t === id(5), droplet: (h) => h === hash('b'), anyStaging: () => false },
    DEFAULT_GARBAGE_POLICY,
    now,
  );
  assert.deepEqual(
    removed.sort(),
    [join(dirs.droplets, `${hash('a')}.tgz`), join(dirs.instances, id(1)), join(dirs.staging, id(4)), join(dirs.caches, id(7)), join(dirs.caches, `${id(7)}.stamp`)].sort(),
  );
  for (const p of removed) assert.equal(existsSync(p), false, p);
  for (const kept of [join(dirs.instances, id(2)), join(dirs.instances, id(3)), join(dirs.instances, 'lost+found'), join(dirs.staging, id(5)), join(dirs.staging, id(6)), join(dirs.droplets, `${hash('b')}.tgz`), join(dirs.droplets, `${hash('c')}.tgz`), join(dirs.caches, id(8))]) {
    assert.equal(existsSync(kept), true, kept);
  }
});

test('build caches are left alone while any staging runs (it may be restoring one)', async () => {
  const caches = join(root, 'busy-caches');
  mkdirSync(join(caches, id(9)), { recursive: true });
  const t = (Date.now() - 30 * 24 * HOUR) / 1000;
  utimesSync(join(caches, id(9)), t, t);
  const dirs = { instances: join(root, 'none'), staging: join(root, 'none'), droplets: join(root, 'none'), caches };
  const removed = await collectGarbage(dirs, { instance: () => false, staging: () => false, droplet: () => false, anyStaging: () => true });
  assert.deepEqual(removed, []);
  assert.equal(existsSync(join(caches, id(9))), true);
});

test("a Dockerfile app's image goes once no instance here runs it and it is past its keep time; the engine's refusal is respected", async () => {
  const now = Date.now();
  const images = [
    { Id: 'sha256:old-unused', Created: (now - 25 * HOUR) / 1000 },
    { Id: 'sha256:old-running', Created: (now - 25 * HOUR) / 1000 },
    { Id: 'sha256:new-unused', Created: (now - HOUR) / 1000 },
    { Id: 'sha256:old-refused', Created: (now - 48 * HOUR) / 1000 },
  ];
  const asked: Record<string, string>[] = [];
  const engine = {
    listImages: async (labels: Record<string, string>) => {
      asked.push(labels);
      return images;
    },
    removeImage: async (image: string) => image !== 'sha256:old-refused',
  };
  const removed = await collectImageGarbage(engine, (img) => img === 'sha256:old-running', DEFAULT_GARBAGE_POLICY, now);
  assert.deepEqual(removed, ['sha256:old-unused']);
  assert.deepEqual(asked, [{ 'nap.kind': 'droplet-image' }], 'only images nap made for Dockerfile apps are looked at');
});
