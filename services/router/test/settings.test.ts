import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { loadSettings, SettingsError } from '@nap/common';
import { limitsFrom } from '../src/router.js';

test('router settings have their documented defaults', () => {
  const s = loadSettings({});
  assert.equal(s.routerRequestTimeoutS, 900);
  assert.equal(s.routerIdleTimeoutS, 60);
  assert.equal(s.routerMaxConnsPerInstance, 500);
  assert.equal(s.routerMaxInFlight, 10_000);
  assert.equal(s.routerStatusUser, 'router');
  assert.equal(s.routerStatusPassword, undefined);
  assert.equal(s.routerWorkers, availableParallelism());
  assert.deepEqual(limitsFrom(s), {
    requestTimeoutMs: 900_000,
    idleTimeoutMs: 60_000,
    maxConnsPerInstance: 500,
    maxInFlight: 10_000,
    upstreamIdleMs: 4000,
    connectTimeoutMs: 1000,
  });
});

test('router settings are read from the environment and checked', () => {
  const s = loadSettings({
    NAP_ROUTER_REQUEST_TIMEOUT_S: '30',
    NAP_ROUTER_IDLE_TIMEOUT_S: '5',
    NAP_ROUTER_MAX_CONNS_PER_INSTANCE: '10',
    NAP_ROUTER_MAX_IN_FLIGHT: '100',
    NAP_ROUTER_STATUS_USER: 'ops',
    NAP_ROUTER_STATUS_PASSWORD: 'pw',
    NAP_ROUTER_WORKERS: '1',
    NAP_ROUTER_CONNECT_TIMEOUT_MS: '250',
  });
  assert.deepEqual(
    [s.routerRequestTimeoutS, s.routerIdleTimeoutS, s.routerMaxConnsPerInstance, s.routerMaxInFlight, s.routerStatusUser, s.routerStatusPassword, s.routerWorkers, s.routerConnectTimeoutMs],
    [30, 5, 10, 100, 'ops', 'pw', 1, 250],
  );
  for (const [key, value] of [
    ['NAP_ROUTER_WORKERS', '0'],
    ['NAP_ROUTER_WORKERS', 'many'],
    ['NAP_ROUTER_MAX_IN_FLIGHT', '-1'],
    ['NAP_ROUTER_REQUEST_TIMEOUT_S', '1.5'],
    ['NAP_ROUTER_CONNECT_TIMEOUT_MS', '10'],
  ]) {
    assert.throws(() => loadSettings({ [key]: value }), (e: unknown) => e instanceof SettingsError && e.message.includes(key), `${key}=${value}`);
  }
});
