import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'nats';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

describe('nap push, end to end on real NATS, etcd and Docker', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  const host = 'hello-node.nap.localhost';

  before(async () => {
    platform = await TestPlatform.start();
    env = platform.cliEnv();
  });

  after(async () => {
    await platform?.stop();
  });

  test('push examples/hello-node and reach it through the router by hostname', async () => {
    const push = await nap(['push', 'hello-node', '-p', `${repoRoot}examples/hello-node`], env);
    assert.equal(push.code, 0, `push failed:\n${push.stdout}\n${push.stderr}\n${await platform.logTail('dea-1')}`);
    assert.match(push.stdout, /http:\/\/hello-node\.nap\.localhost/);
    assert.match(push.stderr, /Uploading/);
    assert.match(push.stderr, /nodejs app detected/, 'the staging log is shown as it happens');
    const res = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: host });
      return r.status === 200 ? r : null;
    }, 10_000, 'the app to answer through the router');
    assert.match(res.body, /Hello from nap! \(hello-node instance 0\)/);
  });

  test('pushing unchanged bits again neither stages nor stores anything new', async () => {
    const nc = await connect({ servers: platform.engines.natsUrl, user: platform.engines.natsUser, pass: platform.engines.natsPassword });
    const stagingRequests: string[] = [];
    const sub = nc.subscribe('staging.*.start', { callback: (_e, m) => stagingRequests.push(m.subject) });
    const os = await nc.jetstream().views.os('nap-blobs');
    const blobsBefore = (await os.list()).filter((i) => !i.deleted).map((i) => i.name).sort();
    await nc.flush();

    const again = await nap(['push', 'hello-node', '-p', `${repoRoot}examples/hello-node`], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /unchanged/i);
    await nc.flush();
    const blobsAfter = (await os.list()).filter((i) => !i.deleted).map((i) => i.name).sort();
    sub.unsubscribe();
    await nc.close();
    assert.deepEqual(stagingRequests, []);
    assert.deepEqual(blobsAfter, blobsBefore);
    const res = await httpGet(`${platform.routerUrl}/`, { Host: host });
    assert.equal(res.status, 200);
  });

  test('scale to 3 instances: three distinct instance_index values answer through the router', async () => {
    const scale = await nap(['scale', 'hello-node', '-i', '3'], env);
    assert.equal(scale.code, 0, scale.stderr);
    const seen = await eventually(async () => {
      const indices = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const r = await httpGet(`${platform.routerUrl}/instance`, { Host: host });
        if (r.status === 200) indices.add((JSON.parse(r.body) as { instance_index: number }).instance_index);
      }
      return indices.size === 3 ? indices : null;
    }, 60_000, 'three instances to answer');
    assert.deepEqual([...seen].sort(), [0, 1, 2]);

    const apps = await nap(['apps', '--json'], env);
    const listed = JSON.parse(apps.stdout) as { name: string; running_instances: number }[];
    assert.equal(listed.find((a) => a.name === 'hello-node')?.running_instances, 3);
  });

  test('stop takes the app off the router; start brings it back without staging', async () => {
    assert.equal((await nap(['stop', 'hello-node'], env)).code, 0);
    // The stopped app keeps its route claim: 503 no_endpoints, never another app's wildcard (issue 11).
    const stopped = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: host });
      return r.status === 503 ? r : null;
    }, 20_000, 'the route to go');
    assert.match(stopped.body, /No endpoint/);
    const start = await nap(['start', 'hello-node'], env);
    assert.equal(start.code, 0, start.stderr);
    await eventually(async () => (await httpGet(`${platform.routerUrl}/`, { Host: host })).status === 200, 60_000, 'the app to be back');
  });

  test('a static site is staged with the static buildpack', async () => {
    const push = await nap(['push', 'hello-static', '-p', `${repoRoot}examples/hello-static`], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    const res = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: 'hello-static.nap.localhost' });
      return r.status === 200 ? r : null;
    }, 10_000, 'the site to answer');
    assert.match(res.body, /Hello from a static site on nap/);
    assert.match(String(res.headers['content-type']), /text\/html/);
  });

  test('dependencies are installed from the registry at staging', async () => {
    const push = await nap(['push', 'hello-deps', '-p', `${repoRoot}examples/hello-deps`], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    assert.match(push.stderr, /Installing dependencies/);
    const res = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: 'hello-deps.nap.localhost' });
      return r.status === 200 ? r : null;
    }, 10_000, 'the app to answer');
    assert.equal(res.body, 'two days is 172800000 ms\n');
  });

  test('staging that fails says why, exits non-zero, and starts nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nap-undetectable-'));
    try {
      writeFileSync(join(dir, 'README.txt'), 'no buildpack for this');
      const push = await nap(['push', 'undetectable', '-p', dir], env);
      assert.notEqual(push.code, 0);
      assert.match(push.stderr, /no buildpack detected this app; tried: nodejs, python, static, java, binary, dockerfile\. Add a package\.json/);
      const app = await nap(['app', 'undetectable', '--json'], env);
      const shown = JSON.parse(app.stdout) as { package_state: string; instance_details: unknown[] };
      assert.equal(shown.package_state, 'FAILED');
      assert.deepEqual(shown.instance_details, []);

      writeFileSync(join(dir, 'package.json'), '{"name": "no-start"}');
      const noStart = await nap(['push', 'undetectable', '-p', dir], env);
      assert.notEqual(noStart.code, 0);
      assert.match(noStart.stderr, /no start command/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
