import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { httpGet } from '@nap/testkit';
import { type ApiHarness, startApi } from './support/api-harness.js';

/** The controller refuses bad input with a clear error and changes nothing, on real NATS and etcd. */
describe('controller API: bad input', () => {
  let harness: ApiHarness;
  let api: string;
  let token: string;
  let auth: { Authorization: string };
  let work: string;

  before(async () => {
    harness = await startApi({ NAP_UPLOAD_LIMIT_MB: '1' });
    ({ api, token, auth } = harness);
    work = mkdtempSync(join(tmpdir(), 'nap-bad-input-'));
    const created = await httpGet(`${api}/v1/apps/victim`, { ...auth, 'Content-Type': 'application/json' }, 'PUT', '{}');
    assert.equal(created.status, 201);
  });

  after(async () => {
    await harness?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const errorCode = (body: string) => (JSON.parse(body) as { error: { code: string; message: string } }).error;

  test('no token or a wrong token is 401; /v1/info and /healthz need none', async () => {
    assert.equal((await httpGet(`${api}/v1/apps`)).status, 401);
    assert.equal((await httpGet(`${api}/v1/apps`, { Authorization: 'Bearer wrong-token' })).status, 401);
    assert.equal((await httpGet(`${api}/v1/apps`, { Authorization: `Basic ${token}` })).status, 401);
    const info = await httpGet(`${api}/v1/info`);
    assert.equal(info.status, 200);
    assert.equal((JSON.parse(info.body) as { domain: string }).domain, 'nap.localhost');
    assert.equal((await httpGet(`${api}/healthz`)).status, 200);
  });

  test('an invalid app name is 400 and creates nothing', async () => {
    for (const name of ['Bad_Name', '-x', 'a'.repeat(64), 'x.y']) {
      const r = await httpGet(`${api}/v1/apps/${encodeURIComponent(name)}`, { ...auth, 'Content-Type': 'application/json' }, 'PUT', '{}');
      assert.equal(r.status, 400, name);
      assert.equal(errorCode(r.body).code, 'invalid_app_name');
    }
    const apps = JSON.parse((await httpGet(`${api}/v1/apps`, auth)).body) as { name: string }[];
    assert.deepEqual(apps.map((a) => a.name), ['victim']);
  });

  test('invalid bodies are 400 naming the field, and change nothing', async () => {
    const bodies = ['{"instances": -1}', '{"memory": "lots"}', '{"colour": "red"}', '{not json', '{"env": {"1BAD": "x"}}', '{"routes": ["bad host!"]}'];
    for (const body of bodies) {
      const r = await httpGet(`${api}/v1/apps/victim`, { ...auth, 'Content-Type': 'application/json' }, 'PUT', body);
      assert.equal(r.status, 400, body);
      assert.ok(errorCode(r.body).message.length > 0);
    }
    const app = JSON.parse((await httpGet(`${api}/v1/apps/victim`, auth)).body) as { instances: number; memory: number; env: object };
    assert.equal(app.instances, 1);
    assert.equal(app.memory, 256);
    assert.deepEqual(app.env, {});
  });

  /** Builds a tarball with GNU tar; -P keeps `..` and absolute names as they are. */
  function hostileTar(name: string, build: (dir: string) => string[]): string {
    const dir = mkdtempSync(join(work, `${name}-`));
    const inner = join(dir, 'inner');
    mkdirSync(inner);
    const entries = build(inner);
    const file = join(dir, `${name}.tgz`);
    execFileSync('tar', ['-czPf', file, ...entries], { cwd: inner });
    return file;
  }

  async function upload(file: string) {
    return httpGet(`${api}/v1/apps/victim/bits`, { ...auth, 'Content-Type': 'application/gzip' }, 'PUT', readFileSync(file));
  }

  test('a tar with ../x, an absolute path or a symlink pointing out is 400 and writes nothing outside', async () => {
    const marker = `nap-escape-${randomBytes(4).toString('hex')}`;
    const outsideTarget = join(tmpdir(), marker);
    const cases = {
      dotdot: hostileTar('dotdot', (inner) => {
        writeFileSync(join(inner, '..', marker), 'escaped');
        return [`../${marker}`];
      }),
      absolute: hostileTar('absolute', (inner) => {
        const abs = join(inner, 'abs.txt');
        writeFileSync(abs, 'absolute');
        return [abs];
      }),
      symlink: hostileTar('symlink', (inner) => {
        symlinkSync('/etc', join(inner, 'etc-link'));
        return ['etc-link'];
      }),
      symlinkUp: hostileTar('symlink-up', (inner) => {
        symlinkSync(`../../${marker}`, join(inner, 'up-link'));
        return ['up-link'];
      }),
    };
    const tmpBefore = readdirSync(tmpdir()).filter((n) => n.startsWith('nap-bits-'));
    for (const [what, file] of Object.entries(cases)) {
      const r = await upload(file);
      assert.equal(r.status, 400, `${what}: ${r.body}`);
      assert.equal(errorCode(r.body).code, 'invalid_bits');
    }
    assert.equal(existsSync(outsideTarget), false, 'nothing was written outside');
    assert.deepEqual(readdirSync(tmpdir()).filter((n) => n.startsWith('nap-bits-')), tmpBefore, 'temp dirs are cleaned up');
    const app = JSON.parse((await httpGet(`${api}/v1/apps/victim`, auth)).body) as { package_hash: string | null };
    assert.equal(app.package_hash, null, 'no package was recorded');
  });

  test('a body that is not a gzip tar is 400', async () => {
    const r = await httpGet(`${api}/v1/apps/victim/bits`, auth, 'PUT', 'this is not a tarball');
    assert.equal(r.status, 400);
  });

  test('an upload over the limit is 413, with or without a Content-Length', async () => {
    const big = randomBytes(2 * 1024 * 1024);
    const declared = await httpGet(`${api}/v1/apps/victim/bits`, auth, 'PUT', big);
    assert.equal(declared.status, 413);
    assert.equal(errorCode(declared.body).code, 'too_large');
    const chunked = await httpGet(`${api}/v1/apps/victim/bits`, { ...auth, 'Transfer-Encoding': 'chunked' }, 'PUT', big);
    assert.equal(chunked.status, 413);
  });

  test('a good upload is accepted and its hash does not depend on file times', async () => {
    const dir = mkdtempSync(join(work, 'good-'));
    writeFileSync(join(dir, 'index.html'), '<h1>hi</h1>');
    const first = join(work, 'good1.tgz');
    execFileSync('tar', ['-czf', first, '--mtime=2020-01-01', 'index.html'], { cwd: dir });
    const second = join(work, 'good2.tgz');
    execFileSync('tar', ['-czf', second, '--mtime=2024-06-01', 'index.html'], { cwd: dir });
    const a = await upload(first);
    assert.equal(a.status, 200, a.body);
    const b = await upload(second);
    assert.equal((JSON.parse(a.body) as { package_hash: string }).package_hash, (JSON.parse(b.body) as { package_hash: string }).package_hash);
    assert.equal((JSON.parse(b.body) as { changed: boolean }).changed, true, 'nothing staged yet, so still a change');
  });

  test('unknown apps are 404 with a hint', async () => {
    const r = await httpGet(`${api}/v1/apps/nobody`, auth);
    assert.equal(r.status, 404);
    assert.match(errorCode(r.body).message, /nap push/);
  });

  test("a route held by another app is 409, and the refused request changes nothing", async () => {
    const put = (name: string, body: object) =>
      httpGet(`${api}/v1/apps/${name}`, { ...auth, 'Content-Type': 'application/json' }, 'PUT', JSON.stringify(body));
    assert.equal((await put('owner', { routes: ['shared.example.com'] })).status, 201);
    const thief = await put('thief', { routes: ['shared.example.com'] });
    assert.equal(thief.status, 409);
    assert.equal(errorCode(thief.body).code, 'route_taken');
    assert.equal((await httpGet(`${api}/v1/apps/thief`, auth)).status, 404, 'the refused app was not created');
    const grab = await put('victim', { routes: ['victim.nap.localhost', 'shared.example.com'] });
    assert.equal(grab.status, 409);
    const victim = JSON.parse((await httpGet(`${api}/v1/apps/victim`, auth)).body) as { routes: string[] };
    assert.deepEqual(victim.routes, ['victim.nap.localhost']);
    // A default route is a route too: an app may not be created under a host someone holds.
    assert.equal((await put('owner', { routes: ['shared.example.com', 'squatter.nap.localhost'] })).status, 200);
    assert.equal((await put('squatter', {})).status, 409);
    // Let go, and the host is free for another.
    assert.equal((await put('owner', { routes: ['owner.nap.localhost'] })).status, 200);
    assert.equal((await put('victim', { routes: ['victim.nap.localhost', 'shared.example.com'] })).status, 200);
    assert.equal((await put('squatter', {})).status, 201);
  });
});
