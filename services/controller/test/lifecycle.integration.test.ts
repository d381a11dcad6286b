import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectEtcd, createLogger, type Etcd3, keys, loadSettings } from '@nap/common';
import { type Engines, startEngines } from '@nap/testkit';
import { AppLifecycle } from '../src/apps/lifecycle.js';
import type { Caller } from '../src/auth/bearer.js';
import { RouteClaims } from '../src/routes/route-claims.js';
import { AppsRepository } from '../src/store/apps-repository.js';
import { CrashHistory } from '../src/store/crash-history.js';
import { DomainsRepository } from '../src/store/domains-repository.js';
import { EventsRepository } from '../src/store/events-repository.js';
import { ReleasesRepository } from '../src/store/releases-repository.js';
import { RoutesRepository } from '../src/store/routes-repository.js';

let engines: Engines;
let etcd: Etcd3;
let lifecycle: AppLifecycle;
const pokes: string[] = [];
const dev: Caller = { name: 'dev', role: 'developer' };
const droplet = { hash: 'd'.repeat(64), key: `droplets/3f1c2a9e-1111-4222-8333-444455556666/${'d'.repeat(64)}.tgz`, source_hash: 'e'.repeat(64), start_command: 'run', detected_buildpack: 'node', staged_at: '' };

before(async () => {
  engines = await startEngines();
  etcd = connectEtcd(loadSettings({ ...engines.env, NAP_LOG_LEVEL: 'silent' }));
  const routes = new RoutesRepository(etcd);
  const blobs = { has: async () => true, list: async () => [], delete: async () => {} } as never;
  lifecycle = new AppLifecycle({
    apps: new AppsRepository(etcd),
    events: new EventsRepository(etcd, createLogger('test', 'silent')),
    releases: new ReleasesRepository(etcd, blobs, 5),
    routes,
    claims: new RouteClaims(routes, new DomainsRepository(etcd), 'nap.test', new Set()),
    crashes: new CrashHistory(etcd),
    blobs,
    domain: 'nap.test',
    stage: async (app) => app,
    poke: async (name) => void pokes.push(name),
    stopInstances: () => {},
  });
});

after(async () => {
  etcd?.close();
  await engines?.stop();
});

/** Every key under `prefix` with the revision that last wrote it. */
async function revisions(prefix: string): Promise<Map<string, string>> {
  const res = await etcd.getAll().prefix(prefix).exec();
  return new Map(res.kvs.map((kv) => [kv.key.toString(), kv.mod_revision]));
}

test('a new app is written with its created event, as the caller, in one transaction', async () => {
  const { app, created } = await lifecycle.put(dev, 'shop', { memory: 512 });
  assert.equal(created, true);
  assert.equal(app.owner, 'dev');
  const [appRev] = (await revisions(keys.app('shop'))).values();
  const events = await revisions(keys.events(app.id));
  assert.equal(events.size, 1);
  assert.deepEqual([...events.values()], [appRev], 'the event was written by the same etcd revision as the app');
  const [event] = await new EventsRepository(etcd, createLogger('test', 'silent')).list(app.id);
  assert.deepEqual({ type: event.type, actor: event.actor }, { type: 'created', actor: 'dev' });
});

test('a change of what runs writes the app, its event and its release in one transaction; a scale makes no release', async () => {
  const before = (await lifecycle.load('shop', dev))!;
  // A droplet, as a staging would have recorded: without one there is nothing to release.
  await new AppsRepository(etcd).update('shop', (a) => {
    a.droplet = { ...droplet, key: droplet.key.replace('3f1c2a9e-1111-4222-8333-444455556666', a.id) };
  });
  const changed = await lifecycle.put(dev, 'shop', { env: { COLOR: 'blue' } });
  assert.notEqual(changed.app.version, before.version, 'a new version');
  const appRev = (await revisions(keys.app('shop'))).get(keys.app('shop'));
  const releases = await revisions(keys.releases(before.id));
  assert.deepEqual([...releases.entries()], [[keys.release(before.id, 1), appRev]]);
  const events = [...(await revisions(keys.events(before.id))).values()];
  assert.equal(events.filter((r) => r === appRev).length, 1, 'one event in the same revision');
  const [release] = await new ReleasesRepository(etcd, {} as never, 5).list(before.id);
  assert.deepEqual({ version: release.version, actor: release.actor, description: release.description, env: release.config.env }, { version: 1, actor: 'dev', description: 'changed env', env: { COLOR: 'blue' } });
  assert.ok(pokes.includes('shop'), 'the health manager was asked to converge');

  await lifecycle.put(dev, 'shop', { instances: 3 });
  assert.equal((await revisions(keys.releases(before.id))).size, 1, 'a scale is no release');
  const [scaled] = await new EventsRepository(etcd, createLogger('test', 'silent')).list(before.id);
  assert.deepEqual({ type: scaled.type, actor: scaled.actor, detail: scaled.detail }, { type: 'scaled', actor: 'dev', detail: { from: 1, to: 3 } });
  // The copy the app list reads is the newest event, written by the same transaction.
  const events2 = new EventsRepository(etcd, createLogger('test', 'silent'));
  assert.deepEqual(await events2.latest(before.id), scaled);
  assert.deepEqual((await events2.latestOfAll()).get(before.id), scaled);
  assert.equal((await revisions(keys.latestEvent(before.id))).get(keys.latestEvent(before.id)), (await revisions(keys.app('shop'))).get(keys.app('shop')));
});

test("a release another writer made is never overwritten: the next change takes the number after it", async () => {
  const app = (await lifecycle.load('shop', dev))!;
  // (The transaction also requires the number to be free, for a writer that read the latest
  // release just before this one was made.)
  await etcd.put(keys.release(app.id, 2)).value(JSON.stringify({ version: 2, taken: 'elsewhere' }));
  await lifecycle.setEnv(dev, 'shop', { COLOR: 'green' });
  const versions = [...(await revisions(keys.releases(app.id))).keys()].map((k) => Number(k.slice(keys.releases(app.id).length)));
  assert.deepEqual(versions, [1, 2, 3]);
  assert.equal(JSON.parse((await etcd.get(keys.release(app.id, 2)).string())!).taken, 'elsewhere', 'v2 is left as the other writer made it');
});

test('an env change that changes nothing writes nothing', async () => {
  const before = await revisions(keys.app('shop'));
  await lifecycle.setEnv(dev, 'shop', { COLOR: 'green' });
  assert.deepEqual(await revisions(keys.app('shop')), before);
});

test("another developer's change is refused and writes nothing", async () => {
  const before = await revisions('/nap/');
  await assert.rejects(lifecycle.put({ name: 'eve', role: 'developer' }, 'shop', { instances: 0 }), /belongs to another user/);
  await assert.rejects(lifecycle.setEnv({ name: 'eve', role: 'developer' }, 'shop', { COLOR: 'red' }), /belongs to another user/);
  assert.deepEqual(await revisions('/nap/'), before);
});

test('a deleted app leaves no history behind, nor the copy of its newest event', async () => {
  const { app } = await lifecycle.put(dev, 'gone', { memory: 128 });
  assert.ok(await new EventsRepository(etcd, createLogger('test', 'silent')).latest(app.id));
  await lifecycle.remove(dev, 'gone');
  assert.equal((await revisions(keys.events(app.id))).size, 0);
  assert.equal((await revisions(keys.latestEvent(app.id))).size, 0);
});
