import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectEtcd, keys, loadSettings, type Etcd3 } from '@nap/common';
import { answerName, Harness, type Backend } from './support/harness.js';
import { startEtcdServer, waitFor, type EtcdServer } from './support/processes.js';

/**
 * A host an app holds in etcd but with no instance running (stopped, crashed, not yet started)
 * must never reach another tenant's wildcard: the attacker's `*.claims.test` app is the
 * wildcard here, and the test asserts what it received.
 */
let etcd: EtcdServer;
let client: Etcd3;
let h: Harness;
let wild: Backend;
let exact: Backend;

before(async () => {
  etcd = await startEtcdServer();
  client = connectEtcd(loadSettings(etcd.env));
  await client.put(keys.route('stopped.claims.test')).value('app-of-the-victim');
  h = await Harness.start({ ...etcd.env }, { claims: { minRetryMs: 50, maxRetryMs: 500 } });
  wild = await h.backend('wild', answerName());
  exact = await h.backend('exact', answerName());
  await h.route('*.claims.test', wild);
  await h.route('running.claims.test', exact);
});

after(async () => {
  client?.close();
  await h?.stop();
  await etcd?.stop();
});

const wildSaw = (host: string) => wild.requests.filter((r) => r.headers.host === host).length;

test('a claimed host with no instance is 503 no_endpoints, and the wildcard app sees nothing', async () => {
  const r = await h.request('stopped.claims.test');
  assert.equal(r.status, 503);
  assert.equal(r.headers['x-nap-router-error'], 'no_endpoints');
  assert.notEqual(r.body, 'wild');
  assert.equal(wildSaw('stopped.claims.test'), 0);
});

test('a host nobody claimed still falls back to the wildcard; a registered host reaches its app', async () => {
  const free = await h.request('free.claims.test');
  assert.equal(free.status, 200);
  assert.equal(free.body, 'wild');
  const running = await h.request('running.claims.test');
  assert.equal(running.body, 'exact');
});

test('claims made and released after the start reach the router through the watch', async () => {
  await client.put(keys.route('later.claims.test')).value('app-b');
  await waitFor('the new claim', () => h.router.table.lookup('later.claims.test')?.size === 0);
  const claimed = await h.request('later.claims.test');
  assert.equal(claimed.status, 503);
  assert.equal(wildSaw('later.claims.test'), 0);

  await client.delete().key(keys.route('later.claims.test'));
  await waitFor('the claim released', () => h.router.table.lookup('later.claims.test')?.host === '*.claims.test');
  assert.equal((await h.request('later.claims.test')).body, 'wild');
});

test('with etcd stopped the router keeps routing on the last known claims, and picks up new ones when etcd is back', async () => {
  await etcd.pause();
  const claimed = await h.request('stopped.claims.test');
  assert.equal(claimed.status, 503);
  assert.equal(claimed.headers['x-nap-router-error'], 'no_endpoints');
  assert.equal((await h.request('free.claims.test')).body, 'wild');
  assert.equal((await h.request('running.claims.test')).body, 'exact');
  // NATS still works: a route registered while etcd is down is served.
  const fresh = await h.backend('fresh', answerName());
  await h.route('fresh.claims.test', fresh);
  assert.equal((await h.request('fresh.claims.test')).body, 'fresh');
  assert.equal(wildSaw('stopped.claims.test'), 0);

  await etcd.start();
  await client.put(keys.route('after-outage.claims.test')).value('app-c');
  // etcd3's watcher reconnects with its own bounded back-off (at most 30 s between tries).
  await waitFor('the claim made after the outage', () => h.router.table.lookup('after-outage.claims.test')?.size === 0, 60_000);
  assert.equal((await h.request('after-outage.claims.test')).status, 503);
  assert.equal(wildSaw('after-outage.claims.test'), 0);
});
