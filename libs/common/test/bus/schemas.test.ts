import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { ActualInstanceRecord } from '../../src/records.js';
import { blobKeyPatterns, blobKeys } from '../../src/keys.js';
import * as msg from '../../src/bus/schemas.js';
import { startMessage } from '../support/start-message.js';

const appId = randomUUID();
const hash = 'ab'.repeat(32);
const start = (over: Record<string, unknown> = {}) => startMessage(appId, hash, over);
const refused = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown, why: string) =>
  assert.equal(schema.safeParse(value).success, false, `should be refused: ${why}`);

describe('bus schemas refuse what could reach a path or a command (issue 11)', () => {
  test('a well-formed start passes, as nap writes it', () => {
    assert.equal(msg.DeaStart.safeParse(start()).success, true);
  });

  test('droplet hashes are 64 lowercase hex digits: ../, uppercase, short and long ones are refused', () => {
    for (const h of ['../../etc/passwd', `../${hash.slice(3)}`, hash.toUpperCase(), hash.slice(1), `${hash}0`, `${hash.slice(0, 63)}/`, '']) {
      refused(msg.DeaStart, start({ droplet_hash: h, droplet_key: `droplets/${appId}/${h}.tgz` }), `hash ${h}`);
    }
  });

  test('instance, task and app ids are uuids: a / or .. or a too-long id is refused', () => {
    for (const id of ['a/b', '../../x', '..', `${randomUUID()}/x`, 'x'.repeat(129), 'i-1', '']) {
      refused(msg.DeaStart, start({ instance_id: id }), `instance_id ${id}`);
      refused(msg.DeaStart, start({ app_id: id }), `app_id ${id}`);
      refused(msg.DeaStop, { app_id: appId, instance_ids: [id] }, `stop instance_id ${id}`);
      refused(msg.StagingFailed, { task_id: id, error: 'x' }, `task_id ${id}`);
    }
  });

  test('a droplet key outside blobKeys\' layout, or naming another hash, is refused', () => {
    for (const key of ['../droplets/x.tgz', `droplets/${appId}/../../${hash}.tgz`, `packages/${appId}/${hash}.tgz`, `droplets/${appId}/${'cd'.repeat(32)}.tgz`, `/droplets/${appId}/${hash}.tgz`]) {
      refused(msg.DeaStart, start({ droplet_key: key }), `key ${key}`);
    }
  });

  test('a staging start\'s package key and hash, and a custom buildpack\'s key and git url', () => {
    const ok = { task_id: randomUUID(), app_id: appId, app_name: 'hello', package_key: blobKeys.package(appId, hash), package_hash: hash, env: {}, memory_mb: 512 };
    assert.equal(msg.StagingStart.safeParse(ok).success, true);
    refused(msg.StagingStart, { ...ok, package_key: `packages/${appId}/../${hash}.tgz` }, 'package key with ..');
    refused(msg.StagingStart, { ...ok, package_hash: '../x' }, 'package hash ../x');
    refused(msg.StagingStart, { ...ok, custom_buildpack: { name: 'bp', blob_key: `buildpacks/../../${hash}.tgz`, hash } }, 'buildpack key with ..');
    refused(msg.StagingStart, { ...ok, custom_buildpack: { name: '..', blob_key: `buildpacks/../${hash}.tgz`, hash } }, 'buildpack name ..');
    refused(msg.StagingStart, { ...ok, custom_buildpack: { name: 'bp', git_url: '--upload-pack=touch /tmp/x' } }, 'a git url that is an option');
    refused(msg.StagingStart, { ...ok, custom_buildpack: { name: 'bp', git_url: 'https://example.invalid/bp.git', ref: '--orphan' } }, 'a ref that is an option');
    assert.match(blobKeys.buildpack('bp', hash), blobKeyPatterns.buildpack);
  });

  test('stack variants, image ids, process types, env names and values', () => {
    refused(msg.DeaStart, start({ stack_variant: '../jvm' }), 'stack variant ../jvm');
    refused(msg.DeaStart, start({ droplet_type: 'image', image_id: '../../containers/create' }), 'image id with a path');
    assert.equal(msg.DeaStart.safeParse(start({ droplet_type: 'image', image_id: `sha256:${hash}` })).success, true);
    refused(msg.DeaStart, start({ process_type: 'web/../x' }), 'process type with /');
    refused(msg.DeaStart, start({ env: { 'A=B': 'x' } }), 'env name with =');
    refused(msg.DeaStart, start({ env: { A: 'x\0y' } }), 'env value with NUL');
    refused(msg.DeaStart, start({ uris: ['a b'] }), 'a route with a space');
  });

  test('node ids may be names (NAP_DEA_ID such as dea-1-<installation>) but never paths', () => {
    const advertise = (id: string) => ({ id, host: '127.0.0.1', zone: 'z1', stacks: [], available_memory_mb: 1, available_disk_mb: 1, app_id_to_count: {}, directory_url: 'http://127.0.0.1:1' });
    assert.equal(msg.DeaAdvertise.safeParse(advertise('dea-1-test-4f2a')).success, true);
    assert.equal(msg.DeaAdvertise.safeParse(advertise(randomUUID())).success, true);
    for (const id of ['dea/1', '../dea', 'd'.repeat(65), 'dea 1']) refused(msg.DeaAdvertise, advertise(id), `id ${id}`);
  });

  test('staging results: the droplet key and hash, the process types a buildpack named', () => {
    const ok = { task_id: randomUUID(), droplet_key: blobKeys.droplet(appId, hash), droplet_hash: hash, detected_buildpack: 'node', start_command: 'x', process_types: { web: 'x' } };
    assert.equal(msg.StagingSucceeded.safeParse(ok).success, true);
    refused(msg.StagingSucceeded, { ...ok, droplet_hash: '../../x' }, 'hash');
    refused(msg.StagingSucceeded, { ...ok, process_types: { 'Web/..': 'x' } }, 'a process type with /');
  });

  test('an actual-instance record from etcd with a path in an id is refused', () => {
    const record = {
      app_id: appId, app_name: 'hello', version: randomUUID(), index: 0, instance_id: randomUUID(), state: 'RUNNING', host: '127.0.0.1', port: 61001,
      dea_id: 'dea-1', since: 1, started_at: 1, exit_status: null, exit_description: null, mem_bytes: null, cpu: null,
    };
    assert.equal(ActualInstanceRecord.safeParse(record).success, true);
    refused(ActualInstanceRecord, { ...record, instance_id: '../x' }, 'instance id');
    refused(ActualInstanceRecord, { ...record, dea_id: 'a/b' }, 'dea id');
  });
});
