import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoundRobin } from '../src/balancing/round-robin.js';
import type { Address } from '../src/table/endpoint.js';
import { RouteTable } from '../src/table/route-table.js';

function tableWith(...ports: number[]) {
  const table = new RouteTable();
  for (const port of ports) table.register({ host: '127.0.0.1', port, uris: ['app.test'] });
  return { table, pool: table.lookup('app.test')! };
}

const unlimited = Number.POSITIVE_INFINITY;

test('successive requests go to successive endpoints', () => {
  const rr = new RoundRobin();
  const { pool } = tableWith(1, 2, 3);
  const firsts = Array.from({ length: 6 }, () => rr.pick(pool, unlimited)!.port);
  assert.deepEqual(firsts, [1, 2, 3, 1, 2, 3]);
});

test('endpoints already tried by a request are skipped, then there are none', () => {
  const rr = new RoundRobin();
  const { pool } = tableWith(1, 2, 3);
  const tried: Address[] = [];
  for (let i = 0; i < 3; i++) tried.push(rr.pick(pool, unlimited, tried)!.address);
  assert.deepEqual(tried.map((a) => a.port).sort(), [1, 2, 3]);
  assert.equal(rr.pick(pool, unlimited, tried), undefined);
});

test('pools keep separate turns', () => {
  const rr = new RoundRobin();
  const a = tableWith(1, 2).pool;
  const b = tableWith(7, 8).pool;
  assert.equal(rr.pick(a, unlimited)!.port, 1);
  assert.equal(rr.pick(b, unlimited)!.port, 7);
  assert.equal(rr.pick(a, unlimited)!.port, 2);
});

test('an endpoint marked failing is skipped until it registers again', () => {
  const rr = new RoundRobin();
  const { table, pool } = tableWith(1, 2);
  pool.endpoints[0].address.failing = true;
  assert.deepEqual([0, 1, 2].map(() => rr.pick(pool, unlimited)!.port), [2, 2, 2]);
  pool.endpoints[1].address.failing = true;
  assert.equal(rr.pick(pool, unlimited), undefined);
  table.register({ host: '127.0.0.1', port: 1, uris: ['app.test'] });
  assert.equal(rr.pick(pool, unlimited)!.port, 1);
});

test('an endpoint at its in-flight cap is passed over', () => {
  const rr = new RoundRobin();
  const { pool } = tableWith(1, 2);
  pool.endpoints[0].address.inFlight = 5;
  assert.deepEqual([0, 1].map(() => rr.pick(pool, 5)!.port), [2, 2]);
  pool.endpoints[1].address.inFlight = 5;
  assert.equal(rr.pick(pool, 5), undefined);
  assert.equal(rr.pick(pool, 6)!.port, 1);
});

test('the failing mark and the in-flight count are shared by every route of an instance', () => {
  const table = new RouteTable();
  table.register({ host: '127.0.0.1', port: 1, uris: ['a.test', 'b.test'] });
  const a = table.lookup('a.test')!.endpoints[0];
  const b = table.lookup('b.test')!.endpoints[0];
  assert.equal(a.address, b.address);
  a.address.failing = true;
  assert.equal(new RoundRobin().pick(table.lookup('b.test')!, unlimited), undefined);
});
