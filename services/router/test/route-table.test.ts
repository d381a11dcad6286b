import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteTable } from '../src/table/route-table.js';
import { normalizeHost } from '../src/table/endpoint.js';

function tableAt(start = 1_000_000) {
  const clock = { now: start };
  return { clock, table: new RouteTable({ now: () => clock.now }) };
}

const web1 = { host: '10.0.0.1', port: 61001, uris: ['app.nap.localhost'], app: 'a1', privateInstanceId: 'i1' };

test('register adds an endpoint under its uri', () => {
  const { table } = tableAt();
  table.register(web1);
  const pool = table.lookup('app.nap.localhost');
  assert.ok(pool);
  assert.deepEqual(
    pool.endpoints.map((e) => [e.host, e.port, e.app, e.privateInstanceId]),
    [['10.0.0.1', 61001, 'a1', 'i1']],
  );
  assert.equal(table.lookup('other.nap.localhost'), undefined);
});

test('registering the same host:port again refreshes instead of duplicating', () => {
  const { table, clock } = tableAt();
  table.register(web1);
  clock.now += 5000;
  table.register({ ...web1, tags: { component: 'web' } });
  const [e, ...rest] = table.lookup('app.nap.localhost')!.endpoints;
  assert.equal(rest.length, 0);
  assert.equal(e.updatedAt, clock.now);
  assert.deepEqual(e.tags, { component: 'web' });
});

test('one registration with many uris puts the endpoint in every pool', () => {
  const { table } = tableAt();
  table.register({ ...web1, uris: ['a.test', 'b.test', 'c.test'] });
  table.register({ host: '10.0.0.2', port: 61002, uris: ['b.test'] });
  assert.equal(table.hostCount, 3);
  assert.equal(table.lookup('a.test')!.size, 1);
  assert.equal(table.lookup('b.test')!.size, 2);
  assert.deepEqual(Object.keys(table.snapshot()).sort(), ['a.test', 'b.test', 'c.test']);
});

test('unregister removes the endpoint and drops pools left empty', () => {
  const { table } = tableAt();
  table.register({ ...web1, uris: ['a.test', 'b.test'] });
  table.register({ host: '10.0.0.2', port: 61002, uris: ['b.test'] });
  assert.equal(table.unregister({ ...web1, uris: ['a.test', 'b.test'] }), 2);
  assert.equal(table.lookup('a.test'), undefined);
  assert.deepEqual(table.lookup('b.test')!.endpoints.map((e) => e.port), [61002]);
  assert.equal(table.unregister({ host: '10.0.0.9', port: 1, uris: ['b.test'] }), 0);
});

test('unregister from an older instance keeps the new instance on the same port', () => {
  const { table } = tableAt();
  table.register({ ...web1, privateInstanceId: 'new' });
  assert.equal(table.unregister({ ...web1, privateInstanceId: 'old' }), 0);
  assert.equal(table.lookup('app.nap.localhost')!.size, 1);
});

test('prune removes endpoints not re-registered in time and counts them', () => {
  const { table, clock } = tableAt();
  table.register({ ...web1, uris: ['a.test', 'b.test'] });
  clock.now += 60_000;
  table.register({ host: '10.0.0.2', port: 61002, uris: ['b.test'] });
  clock.now += 61_000;
  assert.equal(table.prune(120_000), 2);
  assert.equal(table.lookup('a.test'), undefined);
  assert.deepEqual(table.lookup('b.test')!.endpoints.map((e) => e.port), [61002]);
  assert.equal(table.prune(120_000), 0);
  clock.now += 60_000;
  assert.equal(table.prune(120_000), 1);
  assert.equal(table.hostCount, 0);
});

test('hosts are matched case-insensitively and without port', () => {
  const { table } = tableAt();
  table.register({ ...web1, uris: ['App.Nap.LocalHost'] });
  for (const h of ['app.nap.localhost', 'APP.NAP.LOCALHOST', 'app.nap.localhost:8080', 'App.Nap.Localhost.']) {
    assert.ok(table.lookup(h), h);
  }
});

test('normalizeHost leaves IPv6 addresses whole', () => {
  assert.equal(normalizeHost('[::1]:8080'), '[::1]');
  assert.equal(normalizeHost('::1'), '::1');
  assert.equal(normalizeHost('127.0.0.1:80'), '127.0.0.1');
});
