import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JoinAnswer, JoinRequest, nodeIdOf } from '../src/cluster.js';

const settings = {
  NAP_NODE_ADDRESS: '10.0.0.2',
  NAP_NODE_ROLES: 'router,dea',
  NAP_NATS_URL: 'nats://10.0.0.1:4222',
  NAP_ETCD_URLS: 'http://10.0.0.1:2379',
  NAP_CONTROLLER_URL: 'http://10.0.0.1:9022',
  NAP_DOMAIN: 'nap.example',
  NAP_INSTALLATION_ID: 'nap',
};
const answer = { node: { id: nodeIdOf('10.0.0.2'), address: '10.0.0.2', roles: ['router', 'dea'], joined_at: '2026-12-06T00:00:00.000Z', token_id: 'abcdef01' }, settings, secrets: {} };

test('a join answer carries the cluster settings and nothing that could move the node elsewhere', () => {
  assert.ok(JoinAnswer.safeParse(answer).success);
  for (const extra of ['NAP_HOME', 'NAP_DOCKER_SOCKET', 'NAP_STACK_IMAGE', 'NAP_DEA_DIR']) {
    const forged = { ...answer, settings: { ...settings, [extra]: '/tmp/elsewhere' } };
    assert.equal(JoinAnswer.safeParse(forged).success, false, `${extra} was taken`);
  }
  assert.equal(JoinAnswer.safeParse({ ...answer, settings: { ...settings, NAP_NATS_URL: 'nats://x:1\nNAP_HOME: /' } }).success, false);
});

test('a join request names a token, an IPv4 address and each role once', () => {
  const ok = { token: `abcdef01.${'0'.repeat(48)}`, address: '10.0.0.2', roles: ['router', 'dea'] };
  assert.ok(JoinRequest.safeParse(ok).success);
  assert.equal(JoinRequest.safeParse({ ...ok, roles: ['dea', 'dea'] }).success, false);
  assert.equal(JoinRequest.safeParse({ ...ok, roles: ['root'] }).success, false);
  assert.equal(JoinRequest.safeParse({ ...ok, address: 'example.com' }).success, false);
  assert.equal(JoinRequest.safeParse({ ...ok, token: 'abcdef01' }).success, false);
  assert.equal(nodeIdOf('10.0.0.2'), 'n-10-0-0-2');
});
