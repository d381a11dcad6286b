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
  assert.equal(table.routeCount, 1);
  assert.equal(table.endpointCount, 1);
});

test('registering the same host:port again refreshes instead of duplicating', () => {
  const { table, clock } = tableAt();
  table.register(web1);
  clock.now += 5000;
  table.register({ ...web1, privateInstanceId: 'i2', tags: { component: 'web' } });
  const [e, ...rest] = table.lookup('app.nap.localhost')!.endpoints;
  assert.equal(rest.length, 0);
  assert.equal(e.updatedAt, clock.now);
  assert.equal(e.privateInstanceId, 'i2');
  assert.deepEqual(e.tags, { component: 'web' });
  assert.equal(table.routeCount, 1);
});

test('one registration with many uris puts the endpoint in every pool', () => {
  const { table } = tableAt();
  table.register({ ...web1, uris: ['a.test', 'b.test', 'c.test'] });
  table.register({ host: '10.0.0.2', port: 61002, uris: ['b.test'] });
  assert.equal(table.hostCount, 3);
  assert.equal(table.routeCount, 4);
  assert.equal(table.endpointCount, 2);
  assert.equal(table.lookup('a.test')!.size, 1);
  assert.equal(table.lookup('b.test')!.size, 2);
  assert.deepEqual(Object.keys(table.snapshot()).sort(), ['a.test', 'b.test', 'c.test']);
});

test('unregister removes the endpoint and drops pools and addresses left empty', () => {
  const { table } = tableAt();
  table.register({ ...web1, uris: ['a.test', 'b.test'] });
  table.register({ host: '10.0.0.2', port: 61002, uris: ['b.test'] });
  assert.equal(table.unregister({ ...web1, uris: ['a.test', 'b.test'] }), 2);
  assert.equal(table.lookup('a.test'), undefined);
  assert.deepEqual(table.lookup('b.test')!.endpoints.map((e) => e.port), [61002]);
  assert.equal(table.unregister({ host: '10.0.0.9', port: 1, uris: ['b.test'] }), 0);
  assert.equal(table.routeCount, 1);
  assert.equal(table.endpointCount, 1);
});

test('unregister from an older instance keeps the new instance on the same port', () => {
  const { table } = tableAt();
  table.register({ ...web1, privateInstanceId: 'new' });
  assert.equal(table.unregister({ ...web1, privateInstanceId: 'old' }), 0);
  assert.equal(table.lookup('app.nap.localhost')!.size, 1);
});

test('prune removes endpoints not re-registered in time and counts them', () => {
  const { table, clock } = tableAt();
  table.register({ ...web1, uris: ['a.test', 'b.test', '*.w.test'] });
  clock.now += 60_000;
  table.register({ host: '10.0.0.2', port: 61002, uris: ['b.test'] });
  clock.now += 61_000;
  assert.equal(table.prune(120_000), 3);
  assert.equal(table.lookup('a.test'), undefined);
  assert.equal(table.lookup('x.w.test'), undefined);
  assert.deepEqual(table.lookup('b.test')!.endpoints.map((e) => e.port), [61002]);
  assert.equal(table.prune(120_000), 0);
  clock.now += 60_000;
  assert.equal(table.prune(120_000), 1);
  assert.equal(table.hostCount, 0);
  assert.equal(table.routeCount, 0);
  assert.equal(table.endpointCount, 0);
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
  assert.equal(normalizeHost('plain.host'), 'plain.host');
});

test('a wildcard route serves subdomains at any depth, not the bare domain', () => {
  const { table } = tableAt();
  table.register({ host: '10.0.0.1', port: 1, uris: ['*.example.com'] });
  assert.equal(table.lookup('a.example.com')!.host, '*.example.com');
  assert.equal(table.lookup('A.b.Example.com:8080')!.host, '*.example.com');
  assert.equal(table.lookup('example.com'), undefined);
  assert.equal(table.lookup('example.org'), undefined);
  assert.equal(table.lookup('notexample.com'), undefined);
});

test('the most specific route wins: exact host, then the longest wildcard', () => {
  const { table } = tableAt();
  table.register({ host: '10.0.0.1', port: 1, uris: ['*.example.com'] });
  table.register({ host: '10.0.0.1', port: 2, uris: ['*.api.example.com'] });
  table.register({ host: '10.0.0.1', port: 3, uris: ['v1.api.example.com'] });
  const portFor = (h: string) => table.lookup(h)?.endpoints[0].port;
  assert.equal(portFor('www.example.com'), 1);
  assert.equal(portFor('v2.api.example.com'), 2);
  assert.equal(portFor('deep.v2.api.example.com'), 2);
  assert.equal(portFor('v1.api.example.com'), 3);
  assert.equal(portFor('x.v1.api.example.com'), 2);
  assert.equal(portFor('api.example.com'), 1);
  table.unregister({ host: '10.0.0.1', port: 2, uris: ['*.api.example.com'] });
  assert.equal(portFor('v2.api.example.com'), 1);
});

test('a * anywhere but the first label is no route', () => {
  const { table } = tableAt();
  table.register({ host: '10.0.0.1', port: 1, uris: ['a.*.example.com', '*', '*.', 'ok.test'] });
  assert.equal(table.hostCount, 1);
  assert.equal(table.lookup('a.b.example.com'), undefined);
});

test('a new registration clears the failing mark of its address', () => {
  const { table } = tableAt();
  table.register(web1);
  const address = table.lookup('app.nap.localhost')!.endpoints[0].address;
  address.failing = true;
  table.register(web1);
  assert.equal(address.failing, false);
});

// Lookup speed and the heap a route takes are measured by bench/src/router/table.ts (bench/results/
// router.md), not asserted here: a loaded CI machine is neither a stopwatch nor a scale.
test('100,000 routes are all found, each at its own endpoint', () => {
  const N = 100_000;
  const hosts = Array.from({ length: N }, (_, i) => `app-${i}.nap.localhost`);
  const table = new RouteTable();
  for (let i = 0; i < N; i++) {
    table.register({ host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 61000 + (i % 4000), uris: [hosts[i]], app: `app-${i}`, privateInstanceId: `i-${i}` });
  }
  assert.equal(table.routeCount, N);
  let found = 0;
  for (let i = 0; i < N; i++) if (table.lookup(hosts[(i * 7919) % N])?.endpoints[0].privateInstanceId === `i-${(i * 7919) % N}`) found++;
  assert.equal(found, N);
});

test('a claimed host with no endpoint gets an empty pool, never the wildcard', () => {
  const { table } = tableAt();
  table.register({ ...web1, uris: ['*.nap.localhost'], app: 'wild' });
  table.replaceClaims(['stopped.nap.localhost', '*.nap.localhost']);
  const claimed = table.lookup('Stopped.nap.localhost:8080');
  assert.ok(claimed);
  assert.equal(claimed.size, 0);
  assert.equal(claimed.host, 'stopped.nap.localhost');
  // Not claimed: the wildcard, as before.
  assert.equal(table.lookup('free.nap.localhost')?.endpoints[0]?.app, 'wild');
  // An exact registration wins over its own claim.
  table.register({ ...web1, port: 61002, uris: ['stopped.nap.localhost'], app: 'back' });
  assert.equal(table.lookup('stopped.nap.localhost')?.endpoints[0]?.app, 'back');
});

test('a claimed wildcard with no endpoint shadows a shorter registered wildcard', () => {
  const { table } = tableAt();
  table.register({ ...web1, uris: ['*.nap.localhost'], app: 'wild' });
  table.claim('*.team.nap.localhost');
  const pool = table.lookup('x.team.nap.localhost');
  assert.equal(pool?.size, 0);
  assert.equal(pool?.host, '*.team.nap.localhost');
  table.unclaim('*.team.nap.localhost');
  assert.equal(table.lookup('x.team.nap.localhost')?.endpoints[0]?.app, 'wild');
});

test('claims: a host that is no route is ignored; unclaiming leaves an unknown host unknown', () => {
  const { table } = tableAt();
  assert.equal(table.claim('a.*.b'), false);
  assert.equal(table.claim('only.claimed.test'), true);
  assert.equal(table.claimCount, 1);
  assert.equal(table.lookup('only.claimed.test')?.size, 0);
  table.unclaim('only.claimed.test');
  assert.equal(table.lookup('only.claimed.test'), undefined);
  table.replaceClaims(['one.test', '*.two.test']);
  assert.equal(table.claimCount, 2);
  table.replaceClaims([]);
  assert.equal(table.claimCount, 0);
});
