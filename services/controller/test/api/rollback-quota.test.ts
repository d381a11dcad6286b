import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLogger } from '@nap/common';
import express from 'express';
import { errorHandler } from '../../src/api/errors.js';
import { releasesRouter, type ReleasesDeps } from '../../src/api/releases-router.js';
import type { AppRecord } from '../../src/apps/app-record.js';
import { AppLifecycle } from '../../src/apps/lifecycle.js';
import { AppPresenter } from '../../src/apps/present.js';
import type { Caller } from '../../src/auth/bearer.js';
import { QuotaGuard } from '../../src/quotas/quota-guard.js';
import type { Release } from '../../src/store/releases-repository.js';

const droplet = { key: 'droplets/x/1.tgz', hash: 'a'.repeat(64), source_hash: 'b'.repeat(64), start_command: 'run', detected_buildpack: 'node', staged_at: '', process_types: { web: 'run' } };
const record = (over: Partial<AppRecord>): AppRecord =>
  ({
    id: '3f1c2a9e-1111-4222-8333-444455556666',
    name: 'shop',
    owner: 'dev',
    instances: 1,
    memory_mb: 256,
    disk_mb: 1024,
    command: null,
    buildpack: null,
    env: {},
    routes: ['shop.nap.test'],
    health_check: { type: 'port', timeout_s: 60 },
    stack: 'bookworm',
    state: 'STOPPED',
    version: 'v2',
    package: { key: 'packages/x/p.tgz', hash: 'b'.repeat(64) },
    package_state: 'STAGED',
    staging: null,
    droplet,
    created_at: '',
    updated_at: '',
    ...over,
  }) as AppRecord;

/** v1 had 1 GB per instance; the developer's quota is 512 MB. */
const v1: Release = {
  version: 1,
  created_at: '',
  actor: 'dev',
  description: 'first',
  droplet,
  package: null,
  config: { command: null, memory_mb: 1024, disk_mb: 1024, env: {}, routes: ['shop.nap.test'], health_check: { type: 'port', timeout_s: 60 }, buildpack: null },
};

test('a rollback to more memory is checked against the app as it is when written: a start that landed meanwhile counts', async () => {
  // The app read first is stopped (a rollback of a stopped app is free); by the time the
  // rollback writes, a start of the same user has landed, so the write would take 1 GB of a 512 MB quota.
  const seen = record({ state: 'STOPPED' });
  let stored = record({ state: 'STARTED' });
  const writes: AppRecord[] = [];
  const apps = {
    get: async () => structuredClone(seen),
    list: async () => [structuredClone(stored)],
    update: async (_name: string, mutate: (a: AppRecord) => unknown) => {
      const a = structuredClone(stored);
      if ((await mutate(a)) === false) return a;
      writes.push(a);
      stored = a;
      return a;
    },
  };
  const quotas = { get: async () => ({ apps: 10, instances: 10, memory_mb: 512, set_by: 'admin', set_at: '' }), put: async () => {} };
  const guard = new QuotaGuard(apps as never, quotas as never, { apps: 10, instances: 10, memory_mb: 512 });
  const lifecycle = new AppLifecycle({
    apps: apps as never,
    releases: { get: async () => v1, nextVersion: async () => 2, entry: () => ['r', '{}'] } as never,
    routes: { claim: async () => true, release: async () => {} } as never,
    claims: { claimAll: async () => null } as never,
    events: { entries: () => [['e', '{}']], trim: async () => {} } as never,
    crashes: {} as never,
    blobs: { has: async () => true } as never,
    domain: 'nap.test',
    quota: guard,
    stage: async (a) => a,
    poke: async () => {},
    stopInstances: () => {},
  });
  const presenter = new AppPresenter({ ofApp: async () => [], byApp: async () => new Map() }, { latest: async () => null, latestOfAll: async () => new Map() }, 's');
  const deps: ReleasesDeps = { lifecycle, presenter, releases: {} as never };
  const caller: Caller = { name: 'dev', role: 'developer' };
  const http = express();
  http.use((req, _res, next) => {
    req.caller = caller;
    next();
  });
  http.use(releasesRouter(deps));
  http.use(errorHandler(createLogger('test', 'silent')));
  const server = http.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/apps/shop/rollback`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ version: 1 }),
    });
    const body = (await res.json()) as { error?: { code: string } };
    assert.equal(res.status, 403, JSON.stringify(body));
    assert.equal(body.error?.code, 'quota_exceeded');
    assert.deepEqual(writes, [], 'nothing was written');
    assert.equal(stored.memory_mb, 256);
  } finally {
    server.close();
  }
});
