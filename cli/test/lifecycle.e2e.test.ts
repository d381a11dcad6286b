import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

/** A team on one nap: an admin and two developers, each refused what is not theirs. */
describe('the app lifecycle for a team, end to end through the CLI', () => {
  let platform: TestPlatform;
  let admin: Record<string, string>;
  let alice: Record<string, string>;
  let bob: Record<string, string>;
  const viaRouter = (host: string) => httpGet(`${platform.routerUrl}/`, { Host: host });

  async function userEnv(name: string): Promise<Record<string, string>> {
    const made = await nap(['users', 'create', name, '--json'], admin);
    assert.equal(made.code, 0, made.stderr);
    const { token } = JSON.parse(made.stdout) as { token: string };
    return { ...admin, NAP_TOKEN: token };
  }

  before(async () => {
    platform = await TestPlatform.start();
    admin = platform.cliEnv();
    alice = await userEnv('alice');
    bob = await userEnv('bob');
  });

  after(async () => {
    await platform?.stop();
  });

  test('target and login save where the CLI talks to and as whom; deas lists the DEAs for admins', async () => {
    const home = mkdtempSync(join(tmpdir(), 'nap-cli-home-'));
    try {
      const bare: Record<string, string> = { NAP_HOME: home, NAP_API: '', NAP_TOKEN: '' };
      assert.notEqual((await nap(['apps'], bare)).code, 0, 'nothing targeted yet');
      assert.equal((await nap(['target', platform.controllerUrl], bare)).code, 0);
      assert.equal((await nap(['login', '--token', 'wrong'], bare)).code === 0, false);
      const login = await nap(['login', '--token', platform.adminToken], bare);
      assert.equal(login.code, 0, login.stderr);
      assert.match((await nap(['whoami'], bare)).stdout, /admin \(admin\)/);
      const deas = JSON.parse((await nap(['deas', '--json'], bare)).stdout) as { id: string }[];
      assert.equal(deas.length, 1);
      assert.notEqual((await nap(['deas'], bob)).code, 0, 'only admins list DEAs');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('whoami, and users are made by admins only', async () => {
    assert.match((await nap(['whoami'], alice)).stdout, /alice \(developer\)/);
    assert.match((await nap(['whoami'], admin)).stdout, /admin \(admin\)/);
    const refused = await nap(['users', 'create', 'mallory'], bob);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /only an admin/);
    const bad = await nap(['whoami'], { ...admin, NAP_TOKEN: 'not-a-token' });
    assert.notEqual(bad.code, 0);
  });

  test("a developer's app is theirs: another developer can neither see nor change it; an admin can", async () => {
    const push = await nap(['push', 'alice-app', '-p', `${repoRoot}examples/hello-node`], alice);
    assert.equal(push.code, 0, push.stderr);
    for (const args of [['app', 'alice-app'], ['scale', 'alice-app', '-i', '2'], ['stop', 'alice-app'], ['delete', 'alice-app', '-f'], ['logs', 'alice-app'], ['env', 'alice-app']]) {
      const r = await nap(args, bob);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, /belongs to another user/, args.join(' '));
    }
    const pushOver = await nap(['push', 'alice-app', '-p', `${repoRoot}examples/hello-static`], bob);
    assert.notEqual(pushOver.code, 0, 'bob cannot push over alice-app');
    const bobs = JSON.parse((await nap(['apps', '--json'], bob)).stdout) as { name: string }[];
    assert.deepEqual(bobs, []);
    const admins = JSON.parse((await nap(['apps', '--json'], admin)).stdout) as { name: string }[];
    assert.deepEqual(admins.map((a) => a.name), ['alice-app']);
    assert.equal((await nap(['app', 'alice-app'], admin)).code, 0);
    assert.equal((await viaRouter('alice-app.nap.localhost')).status, 200, 'still running after all the refusals');
  });

  test('set-env and unset-env roll the app to the new env, visible through the router', async () => {
    assert.equal((await nap(['set-env', 'alice-app', 'GREETING', 'Bonjour'], alice)).code, 0);
    await eventually(async () => (await viaRouter('alice-app.nap.localhost')).body.startsWith('Bonjour!'), 30_000, 'the new greeting');
    assert.match((await nap(['env', 'alice-app'], alice)).stdout, /^GREETING=Bonjour$/m);
    assert.equal((await nap(['unset-env', 'alice-app', 'GREETING'], alice)).code, 0);
    await eventually(async () => (await viaRouter('alice-app.nap.localhost')).body.startsWith('Hello from nap!'), 30_000, 'the default greeting');
  });

  test('routes: map, a route held by another app is refused, unmap; routes lists them for admins', async () => {
    assert.equal((await nap(['map-route', 'alice-app', 'www.nap.localhost'], alice)).code, 0);
    await eventually(async () => (await viaRouter('www.nap.localhost')).status === 200, 20_000, 'the mapped route');
    assert.equal((await nap(['push', 'bob-app', '-p', `${repoRoot}examples/hello-static`], bob)).code, 0);
    const steal = await nap(['map-route', 'bob-app', 'www.nap.localhost'], bob);
    assert.notEqual(steal.code, 0);
    assert.match(steal.stderr, /belongs to another app/);
    const listed = JSON.parse((await nap(['routes', '--json'], admin)).stdout) as { host: string; app: string }[];
    assert.deepEqual(listed.find((r) => r.host === 'www.nap.localhost')?.app, 'alice-app');
    assert.notEqual((await nap(['routes'], bob)).code, 0, 'only admins list all routes');
    assert.equal((await nap(['unmap-route', 'alice-app', 'www.nap.localhost'], alice)).code, 0);
    await eventually(async () => (await viaRouter('www.nap.localhost')).status === 404, 20_000, 'the route to go');
    assert.equal((await nap(['map-route', 'bob-app', 'www.nap.localhost'], bob)).code, 0, 'free again');
  });

  test('a manifest with two applications pushes both', async () => {
    const push = await nap(['push', '-p', `${repoRoot}examples/two-apps`], alice);
    assert.equal(push.code, 0, push.stderr);
    await eventually(async () => (await viaRouter('two-apps-hello.nap.localhost')).body.startsWith('Hello from the first app'), 20_000, 'the first app');
    await eventually(async () => (await viaRouter('two-apps-site.nap.localhost')).body.includes('static site'), 20_000, 'the second app');
  });

  test('similar apps: two parameter sets run two copies of one droplet, values never reach a shell', async () => {
    const push = await nap(['push', 'param-echo', '-p', `${repoRoot}examples/param-echo`], alice);
    assert.equal(push.code, 0, push.stderr);
    assert.deepEqual(JSON.parse((await nap(['params', 'param-echo', '--json'], alice)).stdout), ['greeting', 'who']);
    const source = JSON.parse((await nap(['app', 'param-echo', '--json'], alice)).stdout) as { droplet: { hash: string } };
    const hostile = "O'Brien; touch /tmp/nap-pwned $(id)";
    const one = await nap(['similar', 'param-echo', '--param', 'greeting=Hi', '--param', `who=${hostile}`, '--json'], alice);
    assert.equal(one.code, 0, one.stderr);
    assert.equal((JSON.parse(one.stdout) as { name: string }).name, 'param-echo-1');
    const two = await nap(['similar', 'param-echo', '--name', 'echo-two', '--param', 'greeting=Yo', '--param', 'who=you'], alice);
    assert.equal(two.code, 0, two.stderr);
    await eventually(async () => (await viaRouter('param-echo-1.nap.localhost')).body === `Hi, ${hostile}\n`, 30_000, 'the first copy');
    await eventually(async () => (await viaRouter('echo-two.nap.localhost')).body === 'Yo, you\n', 30_000, 'the second copy');
    for (const copy of ['param-echo-1', 'echo-two']) {
      const shown = JSON.parse((await nap(['app', copy, '--json'], alice)).stdout) as { droplet: { hash: string } };
      assert.equal(shown.droplet.hash, source.droplet.hash, `${copy} shares the droplet: nothing staged again`);
    }
    const missing = await nap(['similar', 'param-echo', '--param', 'greeting=Hi'], alice);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /missing parameter: who/);
    const unknown = await nap(['similar', 'param-echo', '--param', 'greeting=a', '--param', 'who=b', '--param', 'colour=red'], alice);
    assert.match(unknown.stderr, /unknown parameter: colour/);
    assert.notEqual((await nap(['similar', 'param-echo', '--param', 'greeting=a', '--param', 'who=b'], bob)).code, 0, "not bob's to copy");
  });

  test('a rollback restores both the old code and the old env, through the router', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nap-rolly-'));
    const code = (label: string) =>
      writeFileSync(join(dir, 'server.js'), `require('http').createServer((q, s) => s.end('${label} ' + process.env.GREETING + '\\n')).listen(process.env.PORT);\n`);
    try {
      writeFileSync(join(dir, 'package.json'), '{"name": "rolly", "main": "server.js"}');
      code('code-1');
      assert.equal((await nap(['push', 'rolly', '-p', dir], alice)).code, 0);
      assert.equal((await nap(['set-env', 'rolly', 'GREETING', 'env-1'], alice)).code, 0);
      await eventually(async () => (await viaRouter('rolly.nap.localhost')).body === 'code-1 env-1\n', 30_000, 'v2');
      code('code-2');
      assert.equal((await nap(['push', 'rolly', '-p', dir], alice)).code, 0);
      assert.equal((await nap(['set-env', 'rolly', 'GREETING', 'env-2'], alice)).code, 0);
      await eventually(async () => (await viaRouter('rolly.nap.localhost')).body === 'code-2 env-2\n', 30_000, 'v4');
      const releases = JSON.parse((await nap(['releases', 'rolly', '--json'], alice)).stdout) as { version: number; description: string }[];
      assert.deepEqual(releases.map((r) => r.version), [4, 3, 2, 1]);
      assert.match(releases[3].description, /^staged droplet/);
      assert.match(releases[2].description, /^env GREETING/);
      const back = await nap(['rollback', 'rolly', 'v2'], alice);
      assert.equal(back.code, 0, back.stderr);
      assert.equal((await viaRouter('rolly.nap.localhost')).body, 'code-1 env-1\n');
      const after = JSON.parse((await nap(['releases', 'rolly', '--json'], alice)).stdout) as { version: number; description: string }[];
      assert.equal(after[0].version, 5);
      assert.equal(after[0].description, 'rollback to v2');
      assert.notEqual((await nap(['rollback', 'rolly', 'v9'], alice)).code, 0, 'no such release');
      assert.notEqual((await nap(['rollback', 'rolly', 'v1'], bob)).code, 0, "not bob's");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('delete removes instances, routes and records; the name is free again', async () => {
    const appId = (JSON.parse((await nap(['app', 'alice-app', '--json'], alice)).stdout) as { id: string }).id;
    const refused = await nap(['delete', 'alice-app'], alice);
    assert.notEqual(refused.code, 0, 'without -f and without a terminal it asks for -f');
    assert.equal((await nap(['delete', 'alice-app', '-f'], alice)).code, 0);
    await eventually(async () => (await viaRouter('alice-app.nap.localhost')).status === 404, 20_000, 'the route to go');
    await eventually(async () => (await platform.containers({ 'nap.app_id': appId })).length === 0, 20_000, 'the containers to go');
    assert.notEqual((await nap(['app', 'alice-app'], alice)).code, 0);
    const again = await nap(['push', 'alice-app', '-p', `${repoRoot}examples/hello-node`], bob);
    assert.equal(again.code, 0, 'the name is free for anyone');
  });
});
