import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { ETCD_ROOT_USER, readPrefix, readPrefixKeys } from '@nap/common';
import { type Engines, startEngines } from '../src/engines.js';

/**
 * Paged prefix reads (libs/common/src/etcd-pages.ts) on a real etcd: what one Range could not carry,
 * pages do. Here rather than in libs/common's tests, which cannot start engines without a cycle.
 */
describe('readPrefix', () => {
  let engines: Engines;
  let etcd: Etcd3;

  before(async () => {
    engines = await startEngines();
    etcd = new Etcd3({ hosts: engines.etcdUrl, auth: { username: ETCD_ROOT_USER, password: engines.credentials.etcdRootPassword } });
  });

  after(async () => {
    etcd?.close();
    await engines?.stop();
  });

  test('reads every key under the prefix in pages, and nothing beside it', async () => {
    for (let i = 0; i < 30; i++) await etcd.put(`/t/a/${String(i).padStart(2, '0')}`).value(`v${i}`);
    await etcd.put('/t/a').value('the prefix itself is not under /t/a/');
    await etcd.put('/t/b/x').value('another prefix');
    await etcd.put('/t/a0').value('a sibling sharing the first bytes');
    const all = await readPrefix(etcd, '/t/a/', 7);
    assert.equal(Object.keys(all).length, 30);
    assert.equal(all['/t/a/29'], 'v29');
    assert.deepEqual(await readPrefixKeys(etcd, '/t/a/', 1), Object.keys(all).sort());
    assert.deepEqual(await readPrefix(etcd, '/t/none/', 5), {});
  });

  test('six records of 1 MB: one Range is refused by the client (the outage of issue 11), pages read them all', async () => {
    const big = 'r'.repeat(1024 * 1024);
    for (let i = 0; i < 6; i++) await etcd.put(`/t/big/${i}`).value(big);
    // A client of its own: the refused Range opens its circuit breaker, which is the outage itself.
    const victim = new Etcd3({ hosts: engines.etcdUrl, auth: { username: ETCD_ROOT_USER, password: engines.credentials.etcdRootPassword } });
    try {
      await assert.rejects(victim.getAll().prefix('/t/big/').strings(), /RESOURCE_EXHAUSTED|larger than max|received message larger/i);
    } finally {
      victim.close();
    }
    const paged = await readPrefix(etcd, '/t/big/', 2);
    assert.equal(Object.keys(paged).length, 6);
    assert.ok(Object.values(paged).every((v) => v.length === big.length));
  });
});
