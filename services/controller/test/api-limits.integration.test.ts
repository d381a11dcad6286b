import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { httpGet, slowSymlinkArchive, symlinkArchive } from '@nap/testkit';
import { type ApiHarness, startApi } from './support/api-harness.js';

/**
 * A developer cannot take the controller down (issue 11): every field has a limit, an app's record
 * has a size cap, and app records are read from etcd in pages. Before, six apps with 1 MB of routes
 * each made GET /v1/apps one etcd Range past the client's 4 MiB limit, and every etcd channel closed.
 */

/** The biggest app the field limits allow (about 245 KB once stored); names make it unique per app. */
function biggestApp(n: number) {
  return {
    command: 'c'.repeat(8192),
    env: Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`BIG_${i}`, 'e'.repeat(8150)])),
    routes: Array.from({ length: 100 }, (_, i) => `big${n}-${i}-${'r'.repeat(50)}.nap.localhost`),
    processes: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`worker${i}`, { instances: 0, command: 'w'.repeat(8192) }])),
    health_check: { type: 'http', endpoint: `/${'h'.repeat(1023)}` },
  };
}

describe('controller API: limits hold against a hostile developer', () => {
  let harness: ApiHarness;
  let api: string;
  let admin: { Authorization: string };
  let mallory: { Authorization: string };
  let alice: { Authorization: string };
  const json = { 'Content-Type': 'application/json' };
  const put = (name: string, body: unknown, who: { Authorization: string }) =>
    httpGet(`${api}/v1/apps/${name}`, { ...who, ...json }, 'PUT', typeof body === 'string' ? body : JSON.stringify(body));
  const errorOf = (body: string) => (JSON.parse(body) as { error: { code: string; message: string } }).error;

  before(async () => {
    harness = await startApi();
    api = harness.api;
    admin = harness.auth;
    const user = async (name: string) => {
      const r = await httpGet(`${api}/v1/users`, { ...admin, ...json }, 'POST', JSON.stringify({ name }));
      assert.equal(r.status, 201, r.body);
      return { Authorization: `Bearer ${(JSON.parse(r.body) as { token: string }).token}` };
    };
    mallory = await user('mallory');
    alice = await user('alice');
    assert.equal((await put('alices-app', {}, alice)).status, 201);
  });

  after(async () => {
    await harness?.close();
  });

  test('past each field limit the update is refused with 400 or 413, naming the limit, and nothing is created', async () => {
    const base = biggestApp(0);
    const cases: [string, unknown, number, RegExp][] = [
      ['101 routes', { routes: [...base.routes, 'one-more.nap.localhost'] }, 400, /at most 100 routes/],
      ['a route of 254 characters', { routes: [`${'a.'.repeat(120)}${'b'.repeat(1)}.nap.localhost`.slice(0, 254)] }, 400, /at most 253 characters/],
      ['257 env variables', { env: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`V${i}`, 'x'])) }, 400, /at most 256 env variables/],
      ['65 KB of env', { env: { A: 'x'.repeat(65_000), B: 'y'.repeat(1_000) } }, 400, /at most 64 KB/],
      ['an env name of 129 characters', { env: { [`N${'n'.repeat(128)}`]: 'x' } }, 400, /at most 128 characters/],
      ['an env value with a NUL', { env: { A: 'x\u0000y' } }, 400, /NUL/],
      ['a command of 8193 characters', { command: 'c'.repeat(8193) }, 400, /command/],
      ['a health check endpoint of 1025 characters', { health_check: { type: 'http', endpoint: `/${'h'.repeat(1024)}` } }, 400, /endpoint/],
      ['21 process types', { processes: { ...base.processes, extra: { instances: 0, command: 'x' } } }, 400, /at most 20 process types/],
      ['a process type with a slash', { processes: { 'web/../x': { instances: 1 } } }, 400, /process type/],
      ['a body past 512 KB', JSON.stringify({ env: { A: 'x'.repeat(600_000) } }), 413, /too large/],
    ];
    for (const [what, body, status, message] of cases) {
      const r = await put('too-big', body, mallory);
      assert.equal(r.status, status, `${what}: ${r.body.slice(0, 300)}`);
      assert.match(errorOf(r.body).message, message, what);
    }
    assert.equal((await httpGet(`${api}/v1/apps/too-big`, admin)).status, 404, 'nothing was created');
  });

  test('eighteen apps at every limit (4.4 MB in etcd, past one Range) are accepted, and GET /v1/apps answers for everyone', async () => {
    for (let n = 1; n <= 18; n++) {
      const r = await put(`big-${n}`, biggestApp(n), mallory);
      assert.equal(r.status, 201, `big-${n}: ${r.body.slice(0, 300)}`);
    }
    const forAlice = await httpGet(`${api}/v1/apps`, alice);
    assert.equal(forAlice.status, 200, forAlice.body.slice(0, 300));
    assert.deepEqual((JSON.parse(forAlice.body) as { name: string }[]).map((a) => a.name), ['alices-app']);
    const forAdmin = await httpGet(`${api}/v1/apps`, admin);
    assert.equal(forAdmin.status, 200, forAdmin.body.slice(0, 300));
    assert.equal((JSON.parse(forAdmin.body) as unknown[]).length, 19);
    // etcd is still reachable for everything else: a new app, a change, a read.
    assert.equal((await put('after', {}, alice)).status, 201);
    assert.equal((await put('alices-app', { instances: 2 }, alice)).status, 200);
    assert.equal((await httpGet(`${api}/v1/apps/alices-app`, alice)).status, 200);
  });

  test('the crafted slow-symlink upload is refused with 400, and a link climbing out through another too', async () => {
    const bits = (archive: Buffer) => httpGet(`${api}/v1/apps/alices-app/bits`, { ...alice, 'Content-Type': 'application/gzip' }, 'PUT', archive);
    const slow = await bits(slowSymlinkArchive());
    assert.equal(slow.status, 400, slow.body);
    assert.equal(errorOf(slow.body).code, 'invalid_bits');
    assert.match(errorOf(slow.body).message, /target longer than 4096 bytes/);
    const out = await bits(symlinkArchive([{ path: 'self', target: '.' }, { path: 'escape', target: 'self/..' }]));
    assert.equal(out.status, 400, out.body);
    assert.match(errorOf(out.body).message, /link "escape" points outside the archive/);
    const app = JSON.parse((await httpGet(`${api}/v1/apps/alices-app`, alice)).body) as { package_hash?: string | null };
    assert.ok(!app.package_hash, 'no bits were taken');
  });
});
