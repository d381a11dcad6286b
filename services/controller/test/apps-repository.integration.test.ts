import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectEtcd, type Etcd3, loadSettings } from '@nap/common';
import { type Engines, startEngines } from '@nap/testkit';
import type { AppRecord } from '../src/apps/app-record.js';
import { AppsRepository } from '../src/store/apps-repository.js';
import { RoutesRepository } from '../src/store/routes-repository.js';

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

test('list sees every create, change and delete, also from another writer, past a page of records', async () => {
  const repo = new AppsRepository(etcd);
  const other = new AppsRepository(etcd); // another controller
  for (let i = 0; i < 30; i++) await other.create(app(`many-${String(i).padStart(2, '0')}`));
  const first = (await repo.list()).filter((a) => a.name.startsWith('many-'));
  assert.equal(first.length, 30);
  await other.update('many-07', (a) => {
    a.instances = 7;
  });
  await other.delete('many-08');
  const second = (await repo.list()).filter((a) => a.name.startsWith('many-'));
  assert.equal(second.length, 29);
  assert.equal(second.find((a) => a.name === 'many-07')?.instances, 7);
  second[0].instances = 99; // a caller changing what it got does not change what the next list says
  assert.equal((await repo.list((a) => a.name === second[0].name))[0].instances, 1);
});

test('a malformed app record in etcd is skipped, never used: not JSON, a path in its droplet hash or key', async () => {
  const repo = new AppsRepository(etcd);
  await repo.create(app('fine'));
  await etcd.put('/nap/apps/garbled').value('{not json');
  const evil = { ...app('evil'), droplet: { hash: '../../../etc/passwd', key: 'droplets/x/../../y', source_hash: '', start_command: '', detected_buildpack: '', staged_at: '' } };
  await etcd.put('/nap/apps/evil').value(JSON.stringify(evil));
  await etcd.put('/nap/apps/evil-id').value(JSON.stringify({ ...app('evil-id'), id: '../x' }));
  const names = (await repo.list()).map((a) => a.name);
  assert.ok(names.includes('fine'));
  for (const bad of ['garbled', 'evil', 'evil-id']) {
    assert.ok(!names.includes(bad), `${bad} is not listed`);
    assert.equal(await repo.get(bad), null, `${bad} is not found`);
  }
  await etcd.delete().prefix('/nap/apps/');
});

test('an app record past 256 KiB is refused with 413 and not written', async () => {
  const repo = new AppsRepository(etcd);
  await repo.create(app('heavy'));
  await assert.rejects(
    repo.update('heavy', (a) => {
      a.env.BIG = 'x'.repeat(300 * 1024);
    }),
    (e: Error & { status?: number }) => e.status === 413 && /at most 256 KB/.test(e.message),
  );
  assert.deepEqual((await repo.get('heavy'))?.env, {});
});

test("a delete takes the app's own route claims with it, in one step, and leaves another app's claim", async () => {
  const repo = new AppsRepository(etcd);
  const routes = new RoutesRepository(etcd);
  const mine = { ...app('leaving'), id: '3f1c2a9e-2222-4222-8333-444455556666', routes: ['leaving.nap.localhost', 'also-leaving.nap.localhost', 'theirs.nap.localhost'] };
  const otherId = '3f1c2a9e-3333-4222-8333-444455556666';
  assert.equal(await repo.create(mine), true);
  assert.equal(await routes.claim('leaving.nap.localhost', mine.id), 'claimed');
  assert.equal(await routes.claim('also-leaving.nap.localhost', mine.id), 'claimed');
  assert.equal(await routes.claim('theirs.nap.localhost', otherId), 'claimed');
  const before = Number((await etcd.get('/nap/apps/leaving').exec()).header.revision);

  assert.equal(await repo.delete('leaving'), true);
  assert.equal(await repo.get('leaving'), null);
  assert.equal(await routes.owner('leaving.nap.localhost'), null);
  assert.equal(await routes.owner('also-leaving.nap.localhost'), null);
  assert.equal(await routes.owner('theirs.nap.localhost'), otherId);
  // One transaction: the record and both claims went at the same revision.
  const after = Number((await etcd.get('/nap/apps/none').exec()).header.revision);
  assert.equal(after, before + 1);
  assert.equal(await repo.delete('leaving'), false);
});
