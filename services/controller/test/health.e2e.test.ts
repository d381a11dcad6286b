import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectEtcd, keys, loadSettings } from '@nap/common';
import { eventually, httpGet, nap, repoRoot, requestLoop as requestLoopTo, TestPlatform } from '@nap/testkit';

interface Instance {
  index: number;
  instance_id: string;
  state: string;
  dea_id: string;
  exit_status: number | null;
  exit_description: string | null;
}
interface AppEvent {
  type: string;
  detail: Record<string, unknown>;
}

/**
 * Recovery on 3 DEA processes (own ids, dirs, zones, port ranges) and 2 controllers, on real
 * NATS, etcd and Docker: the platform converges after crashes, node loss, restarts and SIGTERM.
 */
describe('health manager, placement and recovery', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  let api: string;

  const get = async <T>(path: string): Promise<T> => {
    const r = await httpGet(`${api}${path}`, { Authorization: `Bearer ${platform.adminToken}` });
    assert.equal(r.status, 200, `${path}: ${r.body}`);
    return JSON.parse(r.body) as T;
  };
  const instances = (app: string) => get<Instance[]>(`/v1/apps/${app}/instances`);
  const running = async (app: string) => (await instances(app)).filter((i) => i.state === 'RUNNING');
  const events = (app: string) => get<AppEvent[]>(`/v1/apps/${app}/events`);
  const viaRouter = (app: string, path = '/') => httpGet(`${platform.routerUrl}${path}`, { Host: `${app}.nap.localhost` });
  const deaIdOf = (name: string) => `${name}-${platform.installationId}`;

  const requestLoop = (app: string) => requestLoopTo(platform.routerUrl, `${app}.nap.localhost`);

  async function allAnswer(app: string, count: number, requests = 20): Promise<boolean> {
    if ((await running(app)).length !== count) return false;
    for (let i = 0; i < requests; i++) if ((await viaRouter(app)).status !== 200) return false;
    return true;
  }

  before(async () => {
    // Running checks every 2 s, not 5: a hung instance is found in 6 s; what is checked is the same.
    platform = await TestPlatform.start({ deas: 3, controllers: 2, env: { NAP_DEA_HEALTH_CHECK_INTERVAL_S: '2' } });
    env = platform.cliEnv();
    api = platform.controllerUrl;
    const push = await nap(['push', 'hello-node', '-p', `${repoRoot}examples/hello-node`, '-i', '6'], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
  });

  after(async () => {
    await platform?.stop();
  });

  test('instances spread over all three DEAs', async () => {
    const spread = await eventually(async () => {
      const r = await running('hello-node');
      return r.length === 6 ? r : null;
    }, 30_000, '6 running instances');
    const perDea = new Map<string, number>();
    for (const i of spread) perDea.set(i.dea_id, (perDea.get(i.dea_id) ?? 0) + 1);
    assert.deepEqual([...perDea.values()], [2, 2, 2], JSON.stringify([...perDea]));
  });

  test('a restarted DEA adopts its running containers, even after its lease ended: none is restarted', async () => {
    const before = (await platform.containers({ 'nap.dea': deaIdOf('dea-2'), 'nap.kind': 'instance' })).map((c) => c.Id).sort();
    const instancesBefore = (await running('hello-node')).map((i) => i.instance_id).sort();
    assert.equal(before.length, 2);
    await platform.stopService('dea-2', { kill: true });
    // Back after its 3 s lease, as a DEA on a loaded host may be: its instances were replaced meanwhile.
    await eventually(async () => (await running('hello-node')).length === 6 && (await running('hello-node')).every((i) => i.dea_id !== deaIdOf('dea-2')), 15_000, 'its instances replaced on the other DEAs');
    platform.startService('dea-2');
    await platform.waitForDeas(3);
    // It keeps its own, and the replacements are the ones stopped.
    const ids = async () => (await running('hello-node')).map((i) => i.instance_id).sort();
    await eventually(async () => JSON.stringify(await ids()) === JSON.stringify(instancesBefore), 20_000, 'the instances from before, and only them, running');
    const after = await platform.containers({ 'nap.dea': deaIdOf('dea-2'), 'nap.kind': 'instance' });
    assert.deepEqual(after.map((c) => c.Id).sort(), before);
    assert.ok(after.every((c) => c.State === 'running'));
    await eventually(async () => (await platform.containers({ 'nap.kind': 'instance', 'nap.app_name': 'hello-node' })).length === 6, 20_000, 'the replacements\' containers removed');
    assert.ok(await allAnswer('hello-node', 6));
  });

  test('a container killed from outside is replaced and back in the router', async () => {
    const victim = (await running('hello-node'))[0];
    const [container] = await platform.containers({ 'nap.instance_id': victim.instance_id });
    await platform.killContainer(container.Id);
    const replacement = await eventually(async () => {
      const atIndex = (await running('hello-node')).filter((i) => i.index === victim.index);
      return atIndex.length === 1 && atIndex[0].instance_id !== victim.instance_id ? atIndex[0] : null;
    }, 20_000, 'a replacement at the same index');
    assert.ok(replacement);
    await eventually(async () => {
      for (let i = 0; i < 30; i++) {
        const r = await viaRouter('hello-node', '/instance');
        if (r.status === 200 && JSON.parse(r.body).instance_id === replacement.instance_id) return true;
      }
      return false;
    }, 20_000, 'the replacement to answer through the router');
    const crashed = (await events('hello-node')).find((e) => e.type === 'crashed');
    assert.equal(crashed?.detail.instance_id, victim.instance_id);
  });

  test("kill -9 of a DEA and its containers: its instances run elsewhere and answer", async () => {
    const dead = deaIdOf('dea-3');
    await platform.stopService('dea-3', { kill: true });
    for (const c of await platform.containers({ 'nap.dea': dead })) await platform.removeContainer(c.Id);
    const moved = await eventually(async () => {
      const r = await running('hello-node');
      return r.length === 6 && r.every((i) => i.dea_id !== dead) ? r : null;
    }, 30_000, 'all 6 instances running on the two DEAs left');
    assert.equal(new Set(moved.map((i) => i.dea_id)).size, 2);
    assert.ok(await eventually(() => allAnswer('hello-node', 6, 30), 10_000, 'every request answered'));
    platform.startService('dea-3');
    await platform.waitForDeas(3);
  });

  test('SIGTERM on a DEA evacuates it: a 3-instance app answers every request throughout', async () => {
    const push = await nap(['push', 'steady', '-p', `${repoRoot}examples/hello-node`, '-i', '3'], env);
    assert.equal(push.code, 0, push.stderr);
    await eventually(() => allAnswer('steady', 3), 30_000, '3 instances answering');
    const onDea1 = (await running('steady')).filter((i) => i.dea_id === deaIdOf('dea-1'));
    assert.ok(onDea1.length >= 1, 'dea-1 holds an instance of steady');

    const load = requestLoop('steady');
    await new Promise((r) => setTimeout(r, 500));
    await platform.stopService('dea-1');
    await new Promise((r) => setTimeout(r, 1000));
    const { requests, failures } = await load.stop();
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed`);
    assert.ok(requests > 50, `only ${requests} requests were made`);
    const now = await running('steady');
    assert.equal(now.length, 3);
    assert.ok(now.every((i) => i.dea_id !== deaIdOf('dea-1')));
    platform.startService('dea-1');
    await platform.waitForDeas(3);
  });

  test('nap restart replaces instances one at a time: never fewer running, every request answered', async () => {
    const before = (await running('steady')).map((i) => i.instance_id);
    assert.equal(before.length, 3);
    let fewest = Infinity;
    let watching = true;
    const load = requestLoop('steady');
    const watch = (async () => {
      while (watching) {
        fewest = Math.min(fewest, (await running('steady')).length);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const restart = await nap(['restart', 'steady'], env);
    watching = false;
    const [{ requests, failures }] = await Promise.all([load.stop(), watch]);
    assert.equal(restart.code, 0, restart.stderr);
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed`);
    assert.ok(fewest >= 3, `only ${fewest} instances were running at one point`);
    const after = (await running('steady')).map((i) => i.instance_id);
    assert.equal(after.length, 3);
    assert.ok(after.every((id) => !before.includes(id)), 'every instance was replaced');
  });

  test('an app that always crashes backs off: 3 restarts at once, then 30 s, no restart storm', async () => {
    const push = await nap(['push', 'crash-loop', '-p', `${repoRoot}examples/crash-loop`, '--timeout', '1'], env);
    assert.match(push.stderr, /Droplet [0-9a-f]+/, 'it staged');
    const crashes = await eventually(async () => {
      const c = (await events('crash-loop')).filter((e) => e.type === 'crashed');
      return c.length >= 4 ? c : null;
    }, 30_000, 'four crashes');
    const fourth = crashes.find((e) => e.detail.crash_count === 4);
    assert.equal(fourth?.detail.restart_in_s, 30);
    assert.equal(fourth?.detail.exit_status, 7);
    await new Promise((r) => setTimeout(r, 5000));
    const later = (await events('crash-loop')).filter((e) => e.type === 'crashed');
    assert.equal(later.length, crashes.length, 'no restart while backing off');
    const shown = await instances('crash-loop');
    assert.ok(shown.some((i) => i.state === 'CRASHED' && /exited with status 7/.test(i.exit_description ?? '')));

    // A fix pushed is a new version: it starts at once with a clean count, not after the old one's back-off.
    const fixed = await nap(['push', 'crash-loop', '-p', `${repoRoot}examples/hello-node`, '--timeout', '10'], env);
    assert.equal(fixed.code, 0, `${fixed.stdout}\n${fixed.stderr}`);
    const fixedInstance = await eventually(async () => (await running('crash-loop'))[0], 10_000, 'the fixed version running');
    assert.equal((fixedInstance as { restarts?: number }).restarts, 0, 'the new version has not crashed');
  });

  test('a push whose every instance crashes at start ends at once, with the crash, the last lines and where to read the rest', async () => {
    // As cf push's "Start unsuccessful". The app listens on no port, so it is never RUNNING (port health check).
    const dir = mkdtempSync(join(tmpdir(), 'nap-dies-'));
    try {
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'dies', version: '1.0.0', private: true }));
      writeFileSync(join(dir, 'server.js'), "console.error('dies: cannot find DATABASE_URL'); process.exit(3);\n");
      const push = await nap(['push', 'dies', '-p', dir, '-m', '64M', '-i', '2'], env);
      assert.notEqual(push.code, 0);
      assert.match(push.stderr, /Start unsuccessful: every instance of dies crashed \(.*status 3.*\)/);
      assert.match(push.stderr, /dies: cannot find DATABASE_URL/);
      assert.match(push.stderr, /nap logs dies --recent shows the rest/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await nap(['delete', 'dies', '-f'], env);
    }
  });

  test('an app over its memory is killed and shown CRASHED as out of memory', async () => {
    const push = await nap(['push', 'memory-hog', '-p', `${repoRoot}examples/memory-hog`, '--timeout', '1'], env);
    assert.match(push.stderr, /Droplet [0-9a-f]+/, 'it staged');
    const oom = await eventually(async () => (await events('memory-hog')).find((e) => e.type === 'crashed'), 30_000, 'the hog to crash');
    assert.match(String(oom.detail.exit_description), /out of memory/);
  });

  test('an instance that stops answering its health check while running is restarted and reported', async () => {
    const push = await nap(['push', 'log-demo', '-p', `${repoRoot}examples/log-demo`], env);
    assert.equal(push.code, 0, push.stderr);
    const [before] = await running('log-demo');
    assert.equal((await viaRouter('log-demo', '/stop-listening')).status, 200);
    const crashed = await eventually(
      async () => (await events('log-demo')).find((e) => e.type === 'crashed' && e.detail.instance_id === before.instance_id),
      40_000,
      'the hung instance to be reported',
    );
    assert.match(String(crashed.detail.exit_description), /health check failed while running/);
    await eventually(async () => (await viaRouter('log-demo')).status === 200, 30_000, 'a replacement answering');
  });

  test('an app too big for any DEA says why, and starts as soon as there is room', async () => {
    const push = await nap(['push', 'too-big', '-p', `${repoRoot}examples/hello-node`, '-m', '9000M', '--timeout', '2'], env);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /pending: insufficient memory/);
    const app = await get<{ placement_error: string | null }>('/v1/apps/too-big');
    assert.match(app.placement_error ?? '', /no DEA has 9000 MB free/);
    assert.ok((await events('too-big')).some((e) => e.type === 'placement_failed'));
    const scale = await nap(['scale', 'too-big', '-m', '256M'], env);
    assert.equal(scale.code, 0, scale.stderr);
    await eventually(async () => (await viaRouter('too-big')).status === 200, 30_000, 'too-big to run once it fits');
    assert.equal((await get<{ placement_error: string | null }>('/v1/apps/too-big')).placement_error, null);
  });

  test("an app deleted without its stop reaching the DEAs (a lost dea.stop): the sweep stops its instances", async () => {
    const push = await nap(['push', 'forgotten', '-p', `${repoRoot}examples/hello-node`, '-i', '2'], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    await eventually(async () => (await running('forgotten')).length === 2, 30_000, 'two running instances');
    // What a delete leaves when its stop message is lost: the app's record gone, its instances running.
    const etcd = connectEtcd(loadSettings({ ...platform.env, ...platform.engines.env }));
    await etcd.delete().key(keys.app('forgotten'));
    etcd.close();
    await eventually(async () => (await platform.containers({ 'nap.app_name': 'forgotten', 'nap.kind': 'instance' })).every((c) => c.State !== 'running'), 30_000, 'the orphaned containers to stop');
    const r = await viaRouter('forgotten');
    assert.notEqual(r.status, 200, 'its route no longer reaches it');
  });

  test('two controllers: when the acting one dies, the other acts', async () => {
    const acting = (await platform.logTail('controller-1', 500)).includes('acting as health manager') ? 1 : 2;
    const other = acting === 1 ? 2 : 1;
    await platform.stopService(`controller-${acting}`, { kill: true });
    api = platform.controllerUrls[other - 1];
    const victim = (await running('hello-node'))[0];
    const [container] = await platform.containers({ 'nap.instance_id': victim.instance_id });
    await platform.killContainer(container.Id);
    await eventually(async () => {
      const atIndex = (await running('hello-node')).filter((i) => i.index === victim.index);
      return atIndex.length === 1 && atIndex[0].instance_id !== victim.instance_id;
    }, 30_000, 'the other controller to replace the instance');
    assert.match(await platform.logTail(`controller-${other}`, 500), /acting as health manager/);
  });
});
