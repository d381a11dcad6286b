import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@nap/common';
import { DiskQuota } from '../../src/instances/disk-quota.js';
import type { Instance } from '../../src/instances/instance.js';

test('a writable layer the engine did not name once (a failed inspect) is asked for again: what the container writes there still counts', async () => {
  const root = await mkdtemp(join(tmpdir(), 'nap-disk-quota-'));
  try {
    const upper = join(root, 'upper');
    const dir = join(root, 'instance');
    await mkdir(upper);
    await mkdir(join(dir, 'app'), { recursive: true });
    // 3 MB written into the container's own file system, with a quota of 1 MB.
    await writeFile(join(upper, 'fill'), Buffer.alloc(3 * 1024 * 1024, 1));
    const inst = { containerId: 'c1', dir, state: 'RUNNING', start: { instance_id: 'i1', droplet_type: 'tgz', limits: { disk_mb: 1 } } } as unknown as Instance;
    let inspects = 0;
    const runtime = {
      // The engine is busy the first time it is asked.
      writableLayer: async () => (++inspects === 1 ? null : upper),
      rootDir: async () => null,
    };
    const stopped: string[] = [];
    const quota = new DiskQuota({
      capacityMb: 1_000_000,
      reserveMb: 0,
      deaDir: root,
      runtime: runtime as never,
      registry: { live: () => (stopped.length ? [] : [inst]) } as never,
      log: createLogger('test', 'silent'),
      exceeded: async (_i, why) => {
        stopped.push(why);
      },
    });
    await quota.check();
    await quota.check();
    assert.equal(stopped.length, 1, `the instance was not stopped (the engine was asked ${inspects} times)`);
    assert.match(stopped[0], /disk quota exceeded: the app wrote 3 MB, more than its 1 MB/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
