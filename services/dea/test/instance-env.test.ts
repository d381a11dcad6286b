import assert from 'node:assert/strict';
import { test } from 'node:test';
import { instanceEnv } from '../src/instances/instance-env.js';

const start = {
  app_id: '3f1c2a9e-1111-4222-8333-444455556666',
  app_name: 'hello',
  version: 'v1',
  index: 2,
  instance_id: 'i-1',
  droplet_key: 'd',
  droplet_hash: 'h',
  limits: { memory_mb: 256, disk_mb: 1024, fds: 16384 },
  env: { GREETING: 'hi', PORT: '1', HOME: '/elsewhere' },
  uris: ['hello.nap.localhost'],
  command: 'node server.js',
  health_check: { type: 'port' as const, timeout_s: 60 },
  process_type: 'web',
  droplet_type: 'tgz' as const,
};

test('an instance sees CONTRACT §5: PORT, HOME, VCAP_APPLICATION, VCAP_SERVICES, NAP_INSTANCE_INDEX, MEMORY_LIMIT', () => {
  const env = instanceEnv(start, '127.0.0.1', 61001, Date.parse('2026-01-01T00:00:00Z'));
  // In its own namespace the app always listens on 8080; the host port mapped to it is its address.
  assert.equal(env.PORT, '8080');
  assert.equal(env.NAP_INSTANCE_ADDR, '127.0.0.1:61001');
  assert.equal(env.NAP_INSTANCE_PORT, '61001');
  assert.equal(env.HOME, '/home/vcap/app');
  assert.equal(env.VCAP_SERVICES, '{}');
  assert.equal(env.NAP_INSTANCE_INDEX, '2');
  assert.equal(env.NAP_PROCESS_TYPE, 'web');
  assert.equal(env.MEMORY_LIMIT, '256m');
  assert.equal(env.GREETING, 'hi');
  assert.deepEqual(JSON.parse(env.VCAP_APPLICATION), {
    application_id: start.app_id,
    application_name: 'hello',
    application_uris: ['hello.nap.localhost'],
    instance_id: 'i-1',
    instance_index: 2,
    process_type: 'web',
    host: '0.0.0.0',
    port: 8080,
    limits: { mem: 256, disk: 1024, fds: 16384 },
    version: 'v1',
    start: '2026-01-01T00:00:00.000Z',
  });
});

test("the app's own env cannot override what the platform sets", () => {
  const env = instanceEnv(start, '127.0.0.1', 61001);
  assert.equal(env.PORT, '8080');
  assert.equal(env.HOME, '/home/vcap/app');
});
