import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { AppRecord } from '../../src/apps/app-record.js';
import { newApp } from '../../src/apps/update-rules.js';
import { CRASH_RESET_AFTER_MS } from '../../src/health/backoff.js';
import { type Actual, convergencePlan, type Plan } from '../../src/health/convergence-plan.js';
import type { ActualInstance } from '../../src/store/actual-instances.js';
import type { Crashes } from '../../src/store/crash-history.js';

const NOW = 10_000_000;
const APP_ID = randomUUID();

function app(over: Partial<AppRecord> = {}): AppRecord {
  return {
    ...newApp('shop', 'dev', 'nap.test'),
    id: APP_ID,
    instances: 3,
    state: 'STARTED',
    version: 'v2',
    package_state: 'STAGED',
    droplet: { hash: 'a'.repeat(64), key: 'k', source_hash: 'b'.repeat(64), start_command: 'run', detected_buildpack: 'node', staged_at: '', process_types: { web: 'run', worker: 'work' } },
    ...over,
  };
}

function inst(index: number, version: string, state: 'STARTING' | 'RUNNING' = 'RUNNING', over: Partial<ActualInstance> = {}): ActualInstance {
  return {
    app_id: APP_ID,
    app_name: 'shop',
    version,
    index,
    instance_id: randomUUID(),
    process_type: 'web',
    state,
    host: '127.0.0.1',
    port: 61000 + index,
    dea_id: 'dea-1',
    since: NOW - 1000,
    started_at: NOW - 1000,
    exit_status: null,
    exit_description: null,
    mem_bytes: null,
    cpu: null,
    ...over,
  } as ActualInstance;
}

function plan(a: AppRecord, instances: ActualInstance[], over: Partial<Actual> = {}): Plan {
  return convergencePlan(a, { instances, crashes: new Map(), pending: () => false, ...over }, NOW);
}

const starts = (p: Plan) => p.starts.map((s) => `${s.spec.type}:${s.index}${s.replacing ? ' (replacing)' : ''}`);

test('a started app with nothing running starts every wanted index at once', () => {
  assert.deepEqual(starts(plan(app(), [])), ['web:0', 'web:1', 'web:2']);
});

test('a scale down stops the highest indexes and starts nothing', () => {
  const running = [0, 1, 2].map((i) => inst(i, 'v2'));
  const p = plan(app({ instances: 1 }), running);
  assert.deepEqual(starts(p), []);
  assert.deepEqual(p.stops.map((i) => i.index).sort(), [1, 2]);
});

test('a stopped app, or one without a droplet, stops everything it runs', () => {
  const running = [0, 1].map((i) => inst(i, 'v2'));
  for (const a of [app({ state: 'STOPPED' }), app({ droplet: null })]) {
    const p = plan(a, running);
    assert.deepEqual(starts(p), []);
    assert.equal(p.stops.length, 2);
  }
});

test('a new version rolls one instance at a time, and an old one stops only once its replacement runs', () => {
  const old = [0, 1, 2].map((i) => inst(i, 'v1'));
  // First pass: one replacement starts, nothing stops.
  let p = plan(app(), old);
  assert.deepEqual(starts(p), ['web:0 (replacing)']);
  assert.deepEqual(p.stops, []);
  // Its start is pending: nothing more happens.
  p = plan(app(), old, { pending: (v, slot) => v === 'v2' && slot === '0' });
  assert.deepEqual([starts(p), p.stops], [[], []]);
  // It is STARTING: still nothing more, and the old one at 0 keeps serving.
  p = plan(app(), [...old, inst(0, 'v2', 'STARTING')]);
  assert.deepEqual([starts(p), p.stops], [[], []]);
  // It runs: the old one at 0 stops and the next replacement starts.
  p = plan(app(), [...old, inst(0, 'v2')]);
  assert.deepEqual(starts(p), ['web:1 (replacing)']);
  assert.deepEqual(p.stops, [old[0]]);
  assert.deepEqual(p.recorded, ['0']);
});

test('an empty index is filled at once even while a rollout waits', () => {
  const p = plan(app(), [inst(0, 'v1'), inst(1, 'v2', 'STARTING')]);
  assert.deepEqual(starts(p), ['web:2']);
});

test('a slot that keeps crashing waits out its back-off; crashes of another version do not count', () => {
  const crashes = new Map<string, Crashes>([['1', { count: 5, last_crash: NOW - 10_000, version: 'v2' }]]);
  let p = plan(app(), [inst(0, 'v2'), inst(2, 'v2')], { crashes });
  assert.deepEqual(starts(p), []);
  // 5 crashes: 60 s after the last, 10 s of which have passed.
  assert.equal(p.wakeInMs, 50_000);
  p = plan(app(), [inst(0, 'v2'), inst(2, 'v2')], { crashes: new Map([['1', { count: 5, last_crash: NOW - 10_000, version: 'v1' }]]) });
  assert.deepEqual(starts(p), ['web:1']);
  assert.equal(p.wakeInMs, null);
});

test('an instance that has run a minute since its crashes starts over with a clean record', () => {
  const crashes = new Map<string, Crashes>([['0', { count: 2, last_crash: NOW - 2 * CRASH_RESET_AFTER_MS, version: 'v2' }]]);
  const fresh = inst(1, 'v2', 'RUNNING', { started_at: NOW - 5000 });
  const p = plan(app({ instances: 2 }), [inst(0, 'v2', 'RUNNING', { started_at: NOW - 2 * CRASH_RESET_AFTER_MS }), fresh], {
    crashes: new Map([...crashes, ['1', { count: 1, last_crash: NOW - 6000, version: 'v2' }]]),
  });
  assert.deepEqual(p.resetCrashes, ['0']);
});

test('duplicates of an index keep the running one; instances of a type the app no longer has stop', () => {
  const keep = inst(0, 'v2');
  const dup = inst(0, 'v2', 'STARTING');
  const gone = inst(0, 'v2', 'RUNNING', { process_type: 'cron' });
  const p = plan(app({ instances: 1 }), [dup, keep, gone]);
  assert.deepEqual(starts(p), []);
  assert.deepEqual(new Set(p.stops), new Set([dup, gone]));
});

test('of two running duplicates (a DEA back after its instances were replaced) the longest running is kept', () => {
  const adopted = inst(0, 'v2', 'RUNNING', { started_at: NOW - 60_000 });
  const replacement = inst(0, 'v2', 'RUNNING', { started_at: NOW - 2_000 });
  for (const order of [[adopted, replacement], [replacement, adopted]]) {
    const p = plan(app({ instances: 1 }), order);
    assert.deepEqual(p.stops.map((i) => i.instance_id), [replacement.instance_id]);
    assert.deepEqual(starts(p), []);
  }
});

test('other process types are planned by their own counts and the droplet’s commands', () => {
  const a = app({ instances: 1, processes: { worker: { instances: 2, memory_mb: null, command: null } } });
  assert.deepEqual(starts(plan(a, [inst(0, 'v2')])), ['worker:0', 'worker:1']);
  // A type with no command anywhere runs nothing.
  const b = app({ instances: 1, processes: { batch: { instances: 2, memory_mb: null, command: null } } });
  assert.deepEqual(starts(plan(b, [inst(0, 'v2')])), []);
});
