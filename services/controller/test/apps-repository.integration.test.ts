import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectEtcd, type Etcd3, loadSettings } from '@nap/common';
import { type Engines, startEngines } from '@nap/testkit';
import type { AppRecord } from '../src/apps/app-record.js';
import { AppsRepository } from '../src/store/apps-repository.js';

let engines: Engines;
let etcd: Etcd3;

before(async () => {
  engines = await startEngines();
  etcd = connectEtcd(loadSettings({ ...engines.env, NAP_LOG_LEVEL: 'silent' }));
});

after(async () => {
  etcd?.close();
  await engines?.stop();
});

const app = (name: string): AppRecord => ({
  id: '3f1c2a9e-1111-4222-8333-444455556666',
  name,
  instances: 1,
  memory_mb: 256,
  disk_mb: 1024,
  command: null,
  buildpack: null,
  env: {},
  routes: [],
  health_check: { type: 'port', timeout_s: 60 },
  stack: 'bookworm',
  state: 'STOPPED',
  version: 'v1',
  package: null,
  package_state: 'PENDING',
  staging: null,
  droplet: null,
  created_at: '',
  updated_at: '',
});

test('concurrent updates of one app in etcd all land: none undoes another', async () => {
  const repo = new AppsRepository(etcd);
  assert.equal(await repo.create(app('busy')), true);
  assert.equal(await repo.create(app('busy')), false, 'the name is taken');
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      repo.update('busy', (a) => {
        a.env[`K${i}`] = String(i);
      }),
    ),
  );
  const stored = await repo.get('busy');
  assert.deepEqual(Object.keys(stored!.env).sort(), ['K0', 'K1', 'K2', 'K3', 'K4', 'K5', 'K6', 'K7']);
});

test('an update that declines to change leaves the app untouched; a missing app gives null', async () => {
  const repo = new AppsRepository(etcd);
  await repo.create(app('calm'));
  const before = (await etcd.get('/nap/apps/calm').exec()).kvs[0].mod_revision;
  await repo.update('calm', () => false);
  assert.equal((await etcd.get('/nap/apps/calm').exec()).kvs[0].mod_revision, before);
  assert.equal(await repo.update('nobody', () => {}), null);
});
