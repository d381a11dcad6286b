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

test('a node whose free disk is under the reserve says so, and offers no disk; with room it says nothing', async () => {
  const root = await mkdtemp(join(tmpdir(), 'nap-disk-quota-'));
  try {
    const quota = (reserveMb: number) =>
      new DiskQuota({
        capacityMb: 10_000,
        reserveMb,
        deaDir: root,
        runtime: { rootDir: async () => null } as never,
        registry: { live: () => [] } as never,
        log: createLogger('test', 'silent'),
        exceeded: async () => {},
      });
    // More than any disk here has free: the node is "nearly full" by its own rule.
    const full = quota(1_000_000_000);
    await full.start();
    full.stop();
    assert.match(full.fullReason() ?? '', /^disk nearly full: \d+ MB free, under the 1000000000 MB reserve \(NAP_DEA_DISK_RESERVE_MB\)/);
    assert.equal(full.availableMb(), 0);
    const roomy = quota(1);
    await roomy.start();
    roomy.stop();
    assert.equal(roomy.fullReason(), null);
    assert.ok(roomy.availableMb() > 0);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
