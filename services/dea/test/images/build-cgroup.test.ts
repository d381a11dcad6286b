import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeBuildCgroup } from '../../src/images/build-cgroup.js';

const ROOT = '/sys/fs/cgroup';
const exists = (p: string) => access(p).then(() => true, () => false);
const v1 = await exists(join(ROOT, 'pids', 'cgroup.procs'));
const root = process.getuid?.() === 0;

test('a build cgroup leaves nothing behind in any v1 hierarchy, where a builder makes its parent too', { skip: !(v1 && root) && 'needs root and cgroup v1' }, async () => {
  const name = `review-${randomBytes(6).toString('hex')}`;
  const cgroup = await makeBuildCgroup(name, { pidsMax: 64 });
  // What dockerd's cgroupfs driver does with --cgroup-parent: the parent in every hierarchy,
  // of which it removes only its containers' own cgroups after the build.
  const hierarchies = (await readdir(ROOT)).filter((h) => h !== 'pids');
  const made: string[] = [];
  for (const h of hierarchies) {
    const d = join(ROOT, h, 'nap-builds', name);
    if (await mkdir(d, { recursive: true }).then(() => true, () => false)) made.push(d);
  }
  assert.ok(made.length > 0, 'no other hierarchy to try on');
  try {
    await cgroup.remove();
    const left = [];
    for (const h of await readdir(ROOT)) if (await exists(join(ROOT, h, 'nap-builds', name))) left.push(h);
    assert.deepEqual(left, [], 'the build cgroup is still in these hierarchies');
  } finally {
    for (const d of made) await rmdir(d).catch(() => {});
    await rmdir(join(ROOT, 'pids', 'nap-builds', name)).catch(() => {});
  }
});
