import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '@nap/common';
import type { AppRecord } from '../src/apps/app-record.js';
import { cronProblem, ticksBetween } from '../src/apps/cron-schedule.js';
import type { CronRun } from '../src/store/cron-runs-repository.js';
import { CronScheduler } from '../src/tasks/cron-scheduler.js';

// The scheduler's rules against stand-ins for etcd's claims, the launcher and the events: which
// ticks run, which are reported missed, and that a claimed tick never runs twice.

function world() {
  const claims = new Map<string, CronRun>();
  const launched: string[] = [];
  const events: { type: string; detail: Record<string, unknown> }[] = [];
  const app = {
    id: 'a1',
    name: 'ticker',
    state: 'STARTED',
    memory_mb: 64,
    droplet: { hash: 'h', key: 'k' },
    cron: [{ name: 'every-minute', schedule: '* * * * *', command: 'echo tick' }],
  } as unknown as AppRecord;
  const key = (entry: string, tick: Date) => `${entry}/${tick.toISOString()}`;
  const runs = {
    claim: async (_app: string, entry: string, tick: Date, state: 'claimed' | 'missed') => {
      if (claims.has(key(entry, tick))) return false;
      claims.set(key(entry, tick), { tick: tick.toISOString(), state, task_sequence: null, at: new Date().toISOString() });
      return true;
    },
    settle: async (_app: string, entry: string, tick: Date, change: Pick<CronRun, 'state' | 'task_sequence'>) => {
      claims.set(key(entry, tick), { tick: tick.toISOString(), ...change, at: new Date().toISOString() });
    },
    latest: async (_app: string, entry: string) => [...claims.entries()].filter(([k]) => k.startsWith(`${entry}/`)).sort(([a], [b]) => (a < b ? 1 : -1))[0]?.[1] ?? null,
  };
  const scheduler = new CronScheduler({
    apps: { list: async () => [app] } as never,
    runs: runs as never,
    launcher: { launch: async (_a: AppRecord, f: { name: string }) => (launched.push(f.name), { sequence: launched.length }) } as never,
    events: { record: async (_id: string, type: string, _actor: string, detail: Record<string, unknown>) => void events.push({ type, detail }) } as never,
    log: createLogger('test', 'silent'),
  });
  return { scheduler, claims, launched, events };
}

test('a tick runs once however many passes (or controllers) see it', async () => {
  const { scheduler, launched } = world();
  const now = new Date('2026-12-07T02:15:10Z');
  await scheduler.pass(now);
  await scheduler.pass(now);
  await scheduler.pass(new Date('2026-12-07T02:15:40Z'));
  assert.deepEqual(launched, ['every-minute.202612070215']);
});

test('ticks nobody ran in time are reported missed, and the current one runs', async () => {
  const { scheduler, launched, events } = world();
  await scheduler.pass(new Date('2026-12-07T02:15:05Z'));
  // No controller led for three minutes.
  await scheduler.pass(new Date('2026-12-07T02:18:20Z'));
  assert.deepEqual(launched, ['every-minute.202612070215', 'every-minute.202612070218']);
  assert.deepEqual(
    events.map((e) => [e.type, e.detail.tick]),
    [
      ['cron_missed', '2026-12-07T02:16:00.000Z'],
      ['cron_missed', '2026-12-07T02:17:00.000Z'],
    ],
  );
});

test('a new entry does not report the ticks before its first run', async () => {
  const { scheduler, events, launched } = world();
  await scheduler.pass(new Date('2026-12-07T02:15:55Z'));
  assert.deepEqual(events, []);
  assert.deepEqual(launched, []);
});

test('a tick claimed by a controller that died before starting its task is reported, not run twice', async () => {
  const { scheduler, claims, launched, events } = world();
  claims.set('every-minute/2026-12-07T02:15:00.000Z', { tick: '2026-12-07T02:15:00.000Z', state: 'claimed', task_sequence: null, at: '2026-12-07T02:15:01.000Z' });
  await scheduler.pass(new Date('2026-12-07T02:17:30Z'));
  assert.equal(launched.filter((n) => n.endsWith('202612070215')).length, 0);
  assert.ok(events.some((e) => e.type === 'cron_missed' && e.detail.tick === '2026-12-07T02:15:00.000Z'));
  assert.equal(claims.get('every-minute/2026-12-07T02:15:00.000Z')?.state, 'missed');
  assert.deepEqual(launched, ['every-minute.202612070217']);
});

test('schedules: five fields only, checked; ticks in UTC', () => {
  assert.equal(cronProblem('*/5 * * * *'), null);
  assert.match(cronProblem('61 * * * *') ?? '', /minute/);
  assert.match(cronProblem('* * * * * *') ?? '', /five fields/);
  assert.deepEqual(
    ticksBetween('*/5 * * * *', new Date('2026-12-07T02:11:00Z'), new Date('2026-12-07T02:21:00Z')).map((d) => d.toISOString()),
    ['2026-12-07T02:15:00.000Z', '2026-12-07T02:20:00.000Z'],
  );
});
