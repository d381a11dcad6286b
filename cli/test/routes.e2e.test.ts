import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

/**
 * Route claims end to end: an admin's catch-all `*.nap.localhost` app runs, and a developer's app
 * stops. The stopped app's host must answer 503 from the router, never the catch-all (which would
 * let whoever holds a wildcard receive every stopped or crashed app's traffic).
 */
describe('domains and routes, end to end through the CLI and the router', () => {
  let platform: TestPlatform;
  let admin: Record<string, string>;
  let alice: Record<string, string>;
  const viaRouter = (host: string) => httpGet(`${platform.routerUrl}/`, { Host: host });

  before(async () => {
    platform = await TestPlatform.start();
    admin = platform.cliEnv();
    const made = await nap(['users', 'create', 'alice', '--json'], admin);
    assert.equal(made.code, 0, made.stderr);
    alice = { ...admin, NAP_TOKEN: (JSON.parse(made.stdout) as { token: string }).token };
  });

  after(async () => {
    await platform?.stop();
  });

  test("a developer cannot claim the shared domain's wildcard; an admin can", async () => {
    const app = await nap(['push', 'victim', '-p', `${repoRoot}examples/hello-node`], alice);
    assert.equal(app.code, 0, app.stderr);
    const refused = await nap(['map-route', 'victim', '*.nap.localhost', '--json'], alice);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /wildcards on the shared domain nap\.localhost are for admins/);

    const catchall = await nap(['push', 'catchall', '-p', `${repoRoot}examples/hello-node`, '--route', '*.nap.localhost'], admin);
    assert.equal(catchall.code, 0, catchall.stderr);
    await eventually(async () => (await viaRouter('nobody-claimed-this.nap.localhost')).body.includes('catchall'), 30_000, 'the catch-all app');
    assert.match((await viaRouter('victim.nap.localhost')).body, /victim/);
  });

  test("a stopped app's host answers 503, never the catch-all app on the same domain", async () => {
    assert.equal((await nap(['stop', 'victim'], alice)).code, 0);
    const bodies: string[] = [];
    const stopped = await eventually(async () => {
      const r = await viaRouter('victim.nap.localhost');
      bodies.push(r.body);
      return r.status === 503 ? r : undefined;
    }, 60_000, "the stopped app's host to answer 503");
    assert.equal(stopped.headers['x-nap-router-error'], 'no_endpoints');
    assert.ok(!bodies.some((b) => b.includes('catchall')), `the catch-all answered for the stopped app: ${bodies.join(' | ')}`);
    // Other hosts still reach the catch-all.
    assert.match((await viaRouter('free-host.nap.localhost')).body, /catchall/);
  });

  test('an admin gives alice a domain through the CLI; she may claim a wildcard on it', async () => {
    const made = await nap(['create-domain', 'team.test', '--owner', 'alice', '--json'], admin);
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual((JSON.parse(made.stdout) as { owners: string[] }).owners, ['alice']);
    const seen = JSON.parse((await nap(['domains', '--json'], alice)).stdout) as { name: string }[];
    assert.deepEqual(seen.map((d) => d.name), ['nap.localhost', 'team.test']);
    assert.equal((await nap(['map-route', 'victim', '*.team.test'], alice)).code, 0);
    const busy = await nap(['delete-domain', 'team.test', '--json'], admin);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /still claimed/);
  });
});
