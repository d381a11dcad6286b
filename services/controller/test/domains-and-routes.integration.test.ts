import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectEtcd, type Etcd3, keys, loadSettings } from '@nap/common';
import { httpGet } from '@nap/testkit';
import { type ApiHarness, startApi } from './support/api-harness.js';

/**
 * Route claims on a real controller (real etcd and NATS): a developer is hostile and tries to take
 * the shared domain's wildcard, an IP, another team's domain and the platform's own hosts. Every
 * refusal is checked in what the attacker got back and in etcd, where nothing may be stored.
 */
describe('domains and routes', () => {
  let harness: ApiHarness;
  let api: string;
  let admin: { Authorization: string };
  let dev: { Authorization: string };
  let eve: { Authorization: string };
  let etcd: Etcd3;

  const call = (auth: object, method: string, path: string, body?: unknown) =>
    httpGet(`${api}${path}`, { ...auth, 'Content-Type': 'application/json' }, method, body === undefined ? undefined : JSON.stringify(body));
  const errorOf = (body: string) => (JSON.parse(body) as { error: { code: string; message: string } }).error;
  const storedRoutes = async () => Object.keys(await etcd.getAll().prefix(keys.routes()).strings()).map((k) => k.slice(keys.routes().length)).sort();
  const routesOf = async (app: string) => (JSON.parse((await call(admin, 'GET', `/v1/apps/${app}`)).body) as { routes: string[] }).routes;

  async function user(name: string) {
    const r = await call(admin, 'POST', '/v1/users', { name });
    assert.equal(r.status, 201, r.body);
    return { Authorization: `Bearer ${(JSON.parse(r.body) as { token: string }).token}` };
  }

  before(async () => {
    // The router's URL is a name here, so it must be one of the hosts nobody can claim.
    harness = await startApi({ NAP_ROUTER_URL: 'http://router-host.platform.test:8080' });
    api = harness.api;
    admin = harness.auth;
    etcd = connectEtcd(loadSettings(harness.engines.env));
    dev = await user('dev');
    eve = await user('eve');
    assert.equal((await call(dev, 'PUT', '/v1/apps/devapp', {})).status, 201);
    assert.equal((await call(eve, 'PUT', '/v1/apps/eveapp', {})).status, 201);
  });

  after(async () => {
    etcd?.close();
    await harness?.close();
  });

  test('a developer gets 403/400 for hosts that are not theirs to take, and nothing is stored', async () => {
    const before = await storedRoutes();
    assert.deepEqual(before, ['devapp.nap.localhost', 'eveapp.nap.localhost']);
    const attempts: [string, number, string, RegExp][] = [
      ['*.nap.localhost', 403, 'route_forbidden', /wildcards on the shared domain nap\.localhost are for admins/],
      ['127.0.0.1', 400, 'invalid_route', /IP address/],
      ['0x7f.0.0.1', 400, 'invalid_route', /IP address/],
      ['2130706433', 400, 'invalid_route', /IP address/],
      ['other.example.com', 403, 'route_forbidden', /on no domain you may use: you may claim NAME\.nap\.localhost/],
      ['api.nap.localhost', 403, 'route_reserved', /platform's own hosts/],
      ['nap.localhost', 403, 'route_reserved', /platform's own hosts/],
      ['router-host.platform.test', 403, 'route_reserved', /platform's own hosts/],
      ['deep.sub.nap.localhost', 403, 'route_forbidden', /one label/],
      [`${'a'.repeat(64)}.nap.localhost`, 400, 'invalid_body', /at most 63 characters/],
      [`${'a.'.repeat(120)}${'b'.repeat(14)}`, 400, 'invalid_body', /at most 253 characters/],
      ['app.nap.localhost:8080', 400, 'invalid_body', /no port/],
      ['a.*.nap.localhost', 400, 'invalid_body', /wildcard only as a leading/],
    ];
    assert.equal(attempts[10][0].length, 254);
    for (const [host, status, code, message] of attempts) {
      const r = await call(dev, 'PUT', '/v1/apps/devapp', { routes: ['devapp.nap.localhost', host] });
      assert.equal(r.status, status, `${host}: ${r.body}`);
      const error = errorOf(r.body);
      if (code !== 'invalid_body') assert.equal(error.code, code, host);
      assert.match(error.message, message, host);
    }
    assert.deepEqual(await storedRoutes(), before);
    assert.deepEqual(await routesOf('devapp'), ['devapp.nap.localhost']);
  });

  test("an app named after a platform host gets no route of the platform's, and is not created", async () => {
    const r = await call(dev, 'PUT', '/v1/apps/api', {});
    assert.equal(r.status, 403);
    assert.equal(errorOf(r.body).code, 'route_reserved');
    assert.equal((await call(admin, 'GET', '/v1/apps/api')).status, 404);
    assert.ok(!(await storedRoutes()).includes('api.nap.localhost'));
  });

  test('only an admin creates domains; a developer sees the shared one and those given to them', async () => {
    const refused = await call(dev, 'POST', '/v1/domains', { name: 'theirs.test', owners: ['dev'] });
    assert.equal(refused.status, 403);
    assert.equal(await etcd.get(keys.domain('theirs.test')).string(), null);

    const bad = await call(admin, 'POST', '/v1/domains', { name: 'theirs.test', owners: ['nobody-such'] });
    assert.equal(bad.status, 400);
    assert.match(errorOf(bad.body).message, /no user nobody-such/);
    for (const name of ['127.0.0.1', '*.x.test', 'test', 'nap.localhost', 'api.nap.localhost']) {
      const r = await call(admin, 'POST', '/v1/domains', { name });
      assert.ok([400, 403, 409].includes(r.status), `${name}: ${r.body}`);
    }

    const made = await call(admin, 'POST', '/v1/domains', { name: 'Theirs.test', owners: ['dev'] });
    assert.equal(made.status, 201, made.body);
    assert.deepEqual((JSON.parse(made.body) as { owners: string[] }).owners, ['dev']);
    assert.equal((await call(admin, 'POST', '/v1/domains', { name: 'theirs.test' })).status, 409);

    const devSees = JSON.parse((await call(dev, 'GET', '/v1/domains')).body) as { name: string; shared: boolean; owners?: string[] }[];
    assert.deepEqual(devSees.map((d) => [d.name, d.shared]), [['nap.localhost', true], ['theirs.test', false]]);
    assert.equal(devSees[1].owners, undefined);
    const eveSees = JSON.parse((await call(eve, 'GET', '/v1/domains')).body) as { name: string }[];
    assert.deepEqual(eveSees.map((d) => d.name), ['nap.localhost']);
  });

  test("the domain's owner claims a wildcard and hosts on it; another developer cannot", async () => {
    const mine = await call(dev, 'PUT', '/v1/apps/devapp', { routes: ['devapp.nap.localhost', '*.theirs.test', 'x.theirs.test', 'theirs.test'] });
    assert.equal(mine.status, 200, mine.body);
    assert.deepEqual(await routesOf('devapp'), ['devapp.nap.localhost', '*.theirs.test', 'x.theirs.test', 'theirs.test']);
    const before = await storedRoutes();
    assert.ok(before.includes('*.theirs.test') && before.includes('x.theirs.test'));

    for (const host of ['y.theirs.test', '*.sub.theirs.test']) {
      const r = await call(eve, 'PUT', '/v1/apps/eveapp', { routes: ['eveapp.nap.localhost', host] });
      assert.equal(r.status, 403, `${host}: ${r.body}`);
      assert.equal(errorOf(r.body).code, 'route_forbidden');
      assert.match(errorOf(r.body).message, /the domain theirs\.test is not yours/);
    }
    assert.deepEqual(await storedRoutes(), before);
    assert.deepEqual(await routesOf('eveapp'), ['eveapp.nap.localhost']);
  });

  test('an admin gives the domain to another user, who can then claim on it', async () => {
    assert.equal((await call(dev, 'PUT', '/v1/domains/theirs.test/owners/eve')).status, 403);
    assert.equal((await call(admin, 'PUT', '/v1/domains/theirs.test/owners/ghost')).status, 400);
    const shared = await call(admin, 'PUT', '/v1/domains/theirs.test/owners/eve');
    assert.equal(shared.status, 200, shared.body);
    assert.deepEqual((JSON.parse(shared.body) as { owners: string[] }).owners, ['dev', 'eve']);
    const r = await call(eve, 'PUT', '/v1/apps/eveapp', { routes: ['eveapp.nap.localhost', 'y.theirs.test'] });
    assert.equal(r.status, 200, r.body);
    // Taken back: what eve holds keeps working, a new claim is refused.
    assert.equal((await call(admin, 'DELETE', '/v1/domains/theirs.test/owners/eve')).status, 200);
    assert.equal((await call(eve, 'PUT', '/v1/apps/eveapp', { routes: ['eveapp.nap.localhost', 'y.theirs.test', 'eve.nap.localhost'] })).status, 200);
    assert.equal((await call(eve, 'PUT', '/v1/apps/eveapp', { routes: ['eveapp.nap.localhost', 'y.theirs.test', 'z.theirs.test'] })).status, 403);
    assert.ok(!(await storedRoutes()).includes('z.theirs.test'));
  });

  test('an admin may claim a wildcard on the shared domain and a domain nobody created, but not a platform host', async () => {
    assert.equal((await call(admin, 'PUT', '/v1/apps/catchall', { routes: ['*.nap.localhost', 'www.elsewhere.test'] })).status, 201);
    assert.ok((await storedRoutes()).includes('*.nap.localhost'));
    for (const host of ['api.nap.localhost', 'router-host.platform.test', '10.0.0.1']) {
      const r = await call(admin, 'PUT', '/v1/apps/catchall', { routes: ['*.nap.localhost', host] });
      assert.ok(r.status === 403 || r.status === 400, `${host}: ${r.body}`);
    }
  });

  test('a route made before the rules (an upgrade) keeps working but cannot be claimed anew', async () => {
    // What an older nap let a developer store: an IP route.
    const record = JSON.parse((await etcd.get(keys.app('devapp')).string())!) as { id: string; routes: string[] };
    record.routes.push('127.0.0.2');
    await etcd.put(keys.app('devapp')).value(JSON.stringify(record));
    await etcd.put(keys.route('127.0.0.2')).value(record.id);

    const routes = await routesOf('devapp');
    const kept = await call(dev, 'PUT', '/v1/apps/devapp', { routes: [...routes, 'more.nap.localhost'] });
    assert.equal(kept.status, 200, kept.body);
    assert.ok((await storedRoutes()).includes('127.0.0.2'));

    const dropped = await call(dev, 'PUT', '/v1/apps/devapp', { routes: routes.filter((h) => h !== '127.0.0.2') });
    assert.equal(dropped.status, 200);
    assert.ok(!(await storedRoutes()).includes('127.0.0.2'));
    const again = await call(dev, 'PUT', '/v1/apps/devapp', { routes: [...routes] });
    assert.equal(again.status, 400);
    assert.ok(!(await storedRoutes()).includes('127.0.0.2'));
  });

  test('a domain with routes on it cannot be deleted; an empty one can, by an admin only', async () => {
    assert.equal((await call(dev, 'DELETE', '/v1/domains/theirs.test')).status, 403);
    const busy = await call(admin, 'DELETE', '/v1/domains/theirs.test');
    assert.equal(busy.status, 409);
    assert.equal(errorOf(busy.body).code, 'domain_in_use');
    assert.match(errorOf(busy.body).message, /x\.theirs\.test/);
    // The refused delete left the domain usable.
    assert.equal((await call(dev, 'PUT', '/v1/apps/devapp', { routes: ['devapp.nap.localhost', 'w.theirs.test'] })).status, 200);

    assert.equal((await call(eve, 'PUT', '/v1/apps/eveapp', { routes: ['eveapp.nap.localhost'] })).status, 200);
    assert.equal((await call(dev, 'PUT', '/v1/apps/devapp', { routes: ['devapp.nap.localhost'] })).status, 200);
    const gone = await call(admin, 'DELETE', '/v1/domains/theirs.test');
    assert.equal(gone.status, 200, gone.body);
    assert.equal(await etcd.get(keys.domain('theirs.test')).string(), null);
    const r = await call(dev, 'PUT', '/v1/apps/devapp', { routes: ['devapp.nap.localhost', 'x.theirs.test'] });
    assert.equal(r.status, 403);
    assert.equal((await call(admin, 'DELETE', '/v1/domains/nap.localhost')).status, 409);
  });
});
