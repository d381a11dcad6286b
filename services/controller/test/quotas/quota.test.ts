import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppRecord } from '../../src/apps/app-record.js';
import { QuotaExceeded, useOf } from '../../src/quotas/quota.js';

const app = (over: Partial<AppRecord>): AppRecord =>
  ({ id: 'x', name: 'x', owner: 'dev', instances: 1, memory_mb: 256, disk_mb: 1024, state: 'STARTED', routes: [], env: {}, health_check: { type: 'port', timeout_s: 60 }, droplet: null, ...over }) as AppRecord;

test('use counts every app, and the instances and memory of started apps over all process types', () => {
  const use = useOf([
    app({ instances: 2, memory_mb: 256 }),
    app({ instances: 5, memory_mb: 1024, state: 'STOPPED' }),
    app({ instances: 1, memory_mb: 128, processes: { worker: { instances: 3, memory_mb: 512, command: 'w' } } }),
  ]);
  assert.deepEqual(use, { apps: 3, instances: 6, memory_mb: 2 * 256 + 128 + 3 * 512 });
});

test('quota_exceeded says what is used, what was asked and the limit', () => {
  const err = new QuotaExceeded('dev', { apps: 1, instances: 1, memory_mb: 256 }, { apps: 1, instances: 3, memory_mb: 768 }, { apps: 1, instances: 2, memory_mb: 512 }, ['instances', 'memory_mb']);
  assert.equal(err.status, 403);
  const body = err.toBody().error;
  assert.equal(body.code, 'quota_exceeded');
  assert.deepEqual(body.over, ['instances', 'memory_mb']);
  assert.match(body.message, /allows 2 instances; this would make 3 \(1 in use\)/);
  assert.match(body.message, /nap quota dev --instances/);
});
