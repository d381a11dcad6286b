import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ETCD_ROOT_USER, Etcd3 } from '@nap/common';
import { httpGet, TestPlatform } from '@nap/testkit';

/**
 * etcd out of space (its NOSPACE alarm, raised here by hand as etcd raises it at its quota): reads
 * go on, every write is refused with 507 saying what an admin must do, /healthz names the alarm,
 * and all is well again once the alarm is disarmed, with nothing half-written.
 */
describe('etcd out of space', () => {
  let platform: TestPlatform;
  let root: Etcd3;
  const api = (path: string, method = 'GET', body?: string) =>
    httpGet(`${platform.controllerUrl}${path}`, { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' }, method, body);
  const alarm = (action: 'Activate' | 'Deactivate') => root.maintenance.alarm({ action, memberID: '0', alarm: 'Nospace' });

  before(async () => {
    platform = await TestPlatform.start();
    root = new Etcd3({ hosts: platform.engines.etcdUrl, auth: { username: ETCD_ROOT_USER, password: platform.engines.credentials.etcdRootPassword } });
    assert.equal((await api('/v1/apps/before', 'PUT', '{}')).status, 201);
    assert.equal((await api('/healthz')).status, 200);
  });

  after(async () => {
    await alarm('Deactivate').catch(() => {});
    root?.close();
    await platform?.stop();
  });

  test('with the alarm raised, writes are 507 storage_full, reads work, and /healthz names the alarm', async () => {
    await alarm('Activate');
    const put = await api('/v1/apps/during', 'PUT', '{}');
    assert.equal(put.status, 507, put.body);
    const error = (JSON.parse(put.body) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'storage_full');
    assert.match(error.message, /etcd's space quota is used up.*etcdctl alarm disarm/);
    const list = await api('/v1/apps');
    assert.equal(list.status, 200, list.body);
    assert.deepEqual((JSON.parse(list.body) as { name: string }[]).map((a) => a.name), ['before']);
    const health = await api('/healthz');
    assert.equal(health.status, 503);
    assert.match(health.body, /alarm Nospace/);
  });

  test('disarmed, writes work again and the refused one left nothing behind', async () => {
    await alarm('Deactivate');
    assert.equal((await api('/healthz')).status, 200);
    assert.equal((await api('/v1/apps/during')).status, 404);
    assert.equal((await api('/v1/apps/after', 'PUT', '{}')).status, 201);
  });
});
