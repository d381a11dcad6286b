import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeaPool } from '../src/placement/dea-pool.js';

const advert = (id: string, mem: number, counts: Record<string, number> = {}, zone = 'default') => ({
  id,
  host: '127.0.0.1',
  zone,
  stacks: ['bookworm'],
  available_memory_mb: mem,
  available_disk_mb: 10_000,
  app_id_to_count: counts,
  directory_url: 'http://127.0.0.1:9024',
});

test('picks the DEA with fewest instances of the app, then most memory', () => {
  const pool = new DeaPool();
  pool.update(advert('a', 4000, { app: 1 }));
  pool.update(advert('b', 1000));
  pool.update(advert('c', 2000));
  assert.equal(pool.pick('app', 256, 'bookworm')?.id, 'c');
});

test('never picks a DEA without room or without the stack', () => {
  const pool = new DeaPool();
  pool.update(advert('a', 100));
  assert.equal(pool.pick('app', 256, 'bookworm'), null);
  assert.equal(pool.pick('app', 50, 'other-stack'), null);
});

test('reservations spread a burst of placements before the next advertisement', () => {
  const pool = new DeaPool();
  pool.update(advert('a', 1000));
  pool.update(advert('b', 1000));
  const first = pool.pick('app', 256, 'bookworm')!;
  pool.reserve(first.id, 'app', 256);
  const second = pool.pick('app', 256, 'bookworm')!;
  assert.notEqual(second.id, first.id);
});

test('forgets DEAs that stopped advertising', () => {
  let now = 0;
  const pool = new DeaPool(() => now);
  pool.update(advert('a', 1000));
  now = 16_000;
  assert.deepEqual(pool.live(), []);
});

test('spreads an app over zones before spreading it over DEAs of one zone', () => {
  const pool = new DeaPool();
  pool.update(advert('a1', 4000, { app: 1 }, 'zone-a'));
  pool.update(advert('a2', 8000, {}, 'zone-a'));
  pool.update(advert('b1', 1000, {}, 'zone-b'));
  assert.equal(pool.pick('app', 256, 'bookworm')?.id, 'b1', 'zone-b has none of the app, though a2 has more memory');
  pool.reserve('b1', 'app', 256);
  assert.equal(pool.pick('app', 256, 'bookworm')?.id, 'a2', 'then the emptier DEA of the tied zones');
});

test('a DEA that says it takes nothing new is never picked, and says why; disk is reserved as memory is', () => {
  const pool = new DeaPool();
  pool.update({ ...advert('full', 8000), unavailable: 'disk nearly full: 10 MB free' });
  pool.update({ ...advert('small-disk', 4000), available_disk_mb: 100 });
  assert.equal(pool.pick('app', 256, 'bookworm')?.id, 'small-disk', 'the DEA with more memory says it takes nothing');
  assert.equal(pool.pick('app', 256, 'bookworm', 1024), null, 'no DEA has 1024 MB of disk to give');
  assert.equal(pool.pick('app', 256, 'bookworm', 64)?.id, 'small-disk');
  pool.reserve('small-disk', 'app', 256, 64);
  assert.equal(pool.pick('app', 256, 'bookworm', 64), null, '36 MB of disk is left after the reservation');
  assert.deepEqual(pool.unavailable(), ['full: disk nearly full: 10 MB free']);
});
