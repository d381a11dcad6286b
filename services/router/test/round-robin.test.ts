import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoundRobin } from '../src/balancing/round-robin.js';
import { RouteTable } from '../src/table/route-table.js';

function poolOf(...ports: number[]) {
  const table = new RouteTable();
  for (const port of ports) table.register({ host: '127.0.0.1', port, uris: ['app.test'] });
  return table.lookup('app.test')!;
}

test('successive requests go to successive endpoints', () => {
  const rr = new RoundRobin();
  const pool = poolOf(1, 2, 3);
  const firsts = Array.from({ length: 6 }, () => rr.iterator(pool).next()!.port);
  assert.deepEqual(firsts, [1, 2, 3, 1, 2, 3]);
});

test('one request never gets the same endpoint twice, then runs out', () => {
  const rr = new RoundRobin();
  const it = rr.iterator(poolOf(1, 2, 3));
  const ports = [it.next(), it.next(), it.next()].map((e) => e!.port);
  assert.deepEqual([...ports].sort(), [1, 2, 3]);
  assert.equal(it.next(), undefined);
});

test('pools keep separate turns', () => {
  const rr = new RoundRobin();
  const a = poolOf(1, 2);
  const b = poolOf(7, 8);
  assert.equal(rr.iterator(a).next()!.port, 1);
  assert.equal(rr.iterator(b).next()!.port, 7);
  assert.equal(rr.iterator(a).next()!.port, 2);
});

test('an endpoint removed between retries is not returned', () => {
  const table = new RouteTable();
  for (const port of [1, 2]) table.register({ host: '127.0.0.1', port, uris: ['app.test'] });
  const pool = table.lookup('app.test')!;
  const it = new RoundRobin().iterator(pool);
  assert.equal(it.next()!.port, 1);
  table.unregister({ host: '127.0.0.1', port: 2, uris: ['app.test'] });
  assert.equal(it.next(), undefined);
});
