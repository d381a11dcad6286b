import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { readSnapshot, type SnapshotEntry, SnapshotEntry as Entry, SnapshotEntryHead, snapshotText } from '../src/dea-snapshot.js';
import { startMessage } from './support/start-message.js';

const appId = randomUUID();
const hash = 'cd'.repeat(32);
function entry(over: Partial<SnapshotEntry> = {}): SnapshotEntry {
  return {
    start: { ...startMessage(appId, hash, { env: {} }), process_type: 'web', droplet_type: 'tgz' },
    state: 'RUNNING',
    stateTimestamp: 1,
    dir: '/var/nap/dea/instances/x',
    port: 61001,
    containerId: 'c1',
    startedAt: 1,
    exitStatus: null,
    exitDescription: null,
    ...over,
  };
}

test('what the DEA writes, the DEA reads back whole and the directory server reads its part of', () => {
  const written = [entry(), entry({ state: 'CRASHED', exitStatus: 137, exitDescription: 'out of memory', evacuating: true })];
  const text = snapshotText(written, 42);
  assert.equal(JSON.parse(text).written_at, 42);
  const dea = readSnapshot(text, Entry);
  assert.ok(typeof dea !== 'string');
  assert.deepEqual(dea.entries, written);
  const directory = readSnapshot(text, SnapshotEntryHead);
  assert.ok(typeof directory !== 'string');
  assert.deepEqual(
    directory.entries,
    written.map((e) => ({ start: { instance_id: e.start.instance_id }, state: e.state, dir: e.dir })),
  );
});

test('an entry from an older DEA gets the defaults of today (process_type, droplet_type)', () => {
  const old = entry() as unknown as { start: Record<string, unknown> };
  delete old.start.process_type;
  delete old.start.droplet_type;
  const read = readSnapshot(JSON.stringify({ written_at: 1, instances: [old] }), Entry);
  assert.ok(typeof read !== 'string');
  assert.equal(read.entries[0].start.process_type, 'web');
  assert.equal(read.entries[0].start.droplet_type, 'tgz');
});

test('a malformed entry is skipped and counted; a malformed file says why', () => {
  const good = entry();
  const bad = [{ ...entry(), dir: 'relative/dir' }, { ...entry(), dir: '/a\0b' }, { ...entry(), state: 'SLEEPING' }, { ...entry(), port: 70000 }, null, 'junk'];
  const read = readSnapshot(JSON.stringify({ written_at: 1, instances: [good, ...bad] }), Entry);
  assert.ok(typeof read !== 'string');
  assert.deepEqual(read.entries.map((e) => e.start.instance_id), [good.start.instance_id]);
  assert.equal(read.skipped, bad.length);
  assert.match(readSnapshot('{', Entry) as string, /^not JSON/);
  assert.equal(readSnapshot('[]', Entry), 'no "instances" array');
  assert.equal(readSnapshot('null', Entry), 'no "instances" array');
});
