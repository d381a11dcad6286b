import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, requestLoop, TestPlatform } from '@nap/testkit';

interface Seen {
  vcap: Record<string, { name: string; label: string; credentials: Record<string, string> }[]>;
  database_url: string | null;
  instance: string;
}

/** An app that shows what its instances see of their services. */
const READER = `
const app = JSON.parse(process.env.VCAP_APPLICATION);
require('http').createServer((q, s) => s.end(JSON.stringify({ vcap: JSON.parse(process.env.VCAP_SERVICES), database_url: process.env.DATABASE_URL ?? null, instance: app.instance_id }))).listen(process.env.PORT);
`;

/**
 * Issue 17's user-provided services on real engines: credentials a developer gives reach the
 * instances of the apps bound to them as VCAP_SERVICES and DATABASE_URL, binding and unbinding
 * replace the instances one at a time with every request answered, and another developer can
 * neither see, bind nor delete the service.
 */
describe('user-provided services: cups, bind-service, unbind-service, delete-service', () => {
  let platform: TestPlatform;
  let alice: Record<string, string>;
  let bob: Record<string, string>;
  let dir: string;
  const credentials = { uri: 'postgres://orders:s3cret@db.example.com:5432/orders', password: 's3cret' };
  const seen = async (): Promise<Seen> => JSON.parse((await httpGet(`${platform.routerUrl}/`, { Host: 'reader.nap.localhost' })).body) as Seen;

  before(async () => {
    platform = await TestPlatform.start();
    const admin = platform.cliEnv();
    const user = async (name: string) => ({ ...admin, NAP_TOKEN: (JSON.parse((await nap(['users', 'create', name, '--json'], admin)).stdout) as { token: string }).token });
    alice = await user('alice');
    bob = await user('bob');
    dir = mkdtempSync(join(tmpdir(), 'nap-services-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'reader', version: '1.0.0', private: true }));
    writeFileSync(join(dir, 'server.js'), READER);
    const pushed = await nap(['push', 'reader', '-p', dir, '-m', '64M', '-i', '2'], alice);
    assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
    assert.equal((await nap(['push', 'bobs', '-p', dir, '-m', '64M', '--no-start'], bob)).code, 0);
  });

  after(async () => {
    await platform?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a bound service reaches every instance as VCAP_SERVICES and DATABASE_URL, replaced one at a time with every request answered', async () => {
    const made = await nap(['create-user-provided-service', 'orders-db', '-p', JSON.stringify(credentials), '--json'], alice);
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual((await seen()).vcap, {});
    const loop = requestLoop(platform.routerUrl, 'reader.nap.localhost');
    const bound = await nap(['bind-service', 'reader', 'orders-db'], alice);
    assert.equal(bound.code, 0, bound.stderr);
    const instances = new Set<string>();
    await eventually(
      async () => {
        const s = await seen();
        if (s.database_url !== credentials.uri) return false;
        instances.add(s.instance);
        return instances.size === 2;
      },
      60_000,
      'both instances to see the service',
    );
    const { requests, failures } = await loop.stop();
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed during the rollout`);
    const s = await seen();
    assert.deepEqual(s.vcap['user-provided'].map((b) => [b.name, b.label, b.credentials]), [['orders-db', 'user-provided', credentials]]);
    const app = JSON.parse((await nap(['app', 'reader', '--json'], alice)).stdout) as { services: string[] };
    assert.deepEqual(app.services, ['orders-db']);
    const listed = JSON.parse((await nap(['services', '--json'], alice)).stdout) as { name: string; bound_apps: string[]; credentials?: unknown }[];
    assert.deepEqual(listed.map((x) => [x.name, x.bound_apps]), [['orders-db', ['reader']]]);
    assert.equal(listed[0].credentials, undefined, 'the list shows no credentials');
  });

  test('another developer can neither see, bind nor delete it', async () => {
    assert.deepEqual(JSON.parse((await nap(['services', '--json'], bob)).stdout), []);
    const bind = await nap(['bind-service', 'bobs', 'orders-db'], bob);
    assert.notEqual(bind.code, 0);
    assert.match(bind.stderr, /no service orders-db of yours/);
    const deleted = await nap(['delete-service', 'orders-db'], bob);
    assert.match(deleted.stderr, /no service orders-db of yours/);
    // Nor bind it to alice's app, nor unbind it from there.
    assert.notEqual((await nap(['unbind-service', 'reader', 'orders-db'], bob)).code, 0);
    assert.equal((await seen()).database_url, credentials.uri);
  });

  test('a bound service is not deleted; unbound, the instances lose it, and then it goes', async () => {
    const refused = await nap(['delete-service', 'orders-db'], alice);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /bound to reader: unbind it first/);
    assert.equal((await nap(['unbind-service', 'reader', 'orders-db'], alice)).code, 0);
    await eventually(async () => {
      const s = await seen();
      return s.database_url === null && Object.keys(s.vcap).length === 0;
    }, 60_000, 'the instances without the service');
    assert.equal((await nap(['delete-service', 'orders-db'], alice)).code, 0);
    assert.deepEqual(JSON.parse((await nap(['services', '--json'], alice)).stdout), []);
    const bad = await nap(['create-user-provided-service', 'x', '-p', '[1,2]'], alice);
    assert.match(bad.stderr, /JSON object/);
  });
});
