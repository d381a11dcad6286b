import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadSettings } from '@nap/common';
import { eventually, httpGet, nap, repoRoot, requestLoop, startDockerd, type TestDockerd, TestPlatform } from '@nap/testkit';

interface Instance {
  index: number;
  instance_id: string;
  state: string;
}

/** dockerd away this long: a real restart takes 2–3 s; this lets every retry go round a few times. */
const OUTAGE_MS = 10_000;
const LOG_BYTES_PER_OUTAGE = 1024 * 1024;
const TICK_MS = 100;
/** Ticks from a second before the kill to after the return, all within `nap logs`' last 200 lines. */
const TICKS = 180;
const COMPONENTS = ['controller-1', 'dea-1', 'router', 'directory-1'];

/**
 * dockerd is killed under a running nap and started again, as a crash or an upgrade would: on an
 * engine of the test's own (the machine's engine is never touched), started as setup starts the
 * real one, with live-restore. The apps run on meanwhile, and the DEA takes up their output and
 * their exits again where it lost them.
 */
describe('chaos: dockerd killed and restarted under a running nap', () => {
  let dockerd: TestDockerd;
  let platform: TestPlatform;
  let env: Record<string, string>;
  let ids: string[];
  let containers: string[];
  let ticking: number;
  let load: { requests: number; failures: string[] };
  let apiDuring: number[] = [];
  let logs: Record<string, number>;

  const api = (path: string) => httpGet(`${platform.controllerUrl}${path}`, { Authorization: `Bearer ${platform.adminToken}` });
  const running = async () =>
    ((JSON.parse((await api('/v1/apps/log-demo/instances')).body) as Instance[]) ?? [])
      .filter((i) => i.state === 'RUNNING')
      .map((i) => i.instance_id)
      .sort();
  const instanceContainers = async () => (await platform.containers({ 'nap.kind': 'instance' })).filter((c) => c.State === 'running').map((c) => c.Id).sort();

  before(async () => {
    dockerd = await startDockerd();
    const stack = loadSettings({}).stackImage;
    await dockerd.copyImage(stack);
    platform = await TestPlatform.start({ env: { NAP_DOCKER_SOCKET: dockerd.socket } });
    env = platform.cliEnv();
    const push = await nap(['push', 'log-demo', '-p', `${repoRoot}examples/log-demo`, '-i', '3'], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    ids = await eventually(async () => {
      const r = await running();
      return r.length === 3 ? r : null;
    }, 30_000, 'three running instances');
    containers = await instanceContainers();
    const tick = await httpGet(`${platform.routerUrl}/tick?ms=${TICK_MS}&count=${TICKS}`, { Host: 'log-demo.nap.localhost' });
    ticking = Number(/instance (\d+)/.exec(tick.body)?.[1]);
    assert.ok(Number.isInteger(ticking), tick.body);

    const loop = requestLoop(platform.routerUrl, 'log-demo.nap.localhost');
    const before_ = platform.logSizes(COMPONENTS);
    await new Promise((r) => setTimeout(r, 1000));
    await dockerd.kill();
    const back = Date.now() + OUTAGE_MS;
    while (Date.now() < back) {
      apiDuring.push((await api('/v1/apps').catch(() => ({ status: 0 }))).status);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await dockerd.start();
    await new Promise((r) => setTimeout(r, 4000));
    load = await loop.stop();
    logs = platform.loggedSince(before_);
  });

  after(async () => {
    await platform?.stop();
    await dockerd?.stop();
  });

  test('the app answered every request through the router, and the API every call, while dockerd was away', () => {
    assert.ok(load.requests > 50, `requests were made (${load.requests})`);
    assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.requests} failed`);
    assert.deepEqual([...new Set(apiDuring)], [200], `GET /v1/apps during the outage: ${apiDuring.join(' ')}`);
  });

  test('the same instances in the same containers run on: nothing was restarted', async () => {
    assert.deepEqual(await running(), ids);
    assert.deepEqual(await instanceContainers(), containers);
  });

  test("the DEA took the output up again without a gap: every tick the app printed is in its log, in order", async () => {
    const last = TICKS - 1;
    const ticks = await eventually(async () => {
      const r = await nap(['logs', 'log-demo', '--instance', String(ticking)], env);
      const seen = [...r.stdout.matchAll(/\/out\] tick (\d+)$/gm)].map((m) => Number(m[1]));
      return seen.includes(last) ? seen : null;
    }, 30_000, `tick ${last} in the log\n${await platform.logTail('dea-1', 10)}`);
    assert.deepEqual(ticks, ticks.map((_, i) => i), `ticks missing or repeated: ${ticks.join(' ')}`);
  });

  test('an exit after the restart is seen at once (not by the health check): a container killed from outside is replaced', async () => {
    await platform.killContainer(containers[0]);
    const now = await eventually(async () => {
      const r = await running();
      return r.length === 3 && r.join() !== ids.join() ? r : null;
    }, 30_000, `a replacement instance\n${await platform.logTail('dea-1', 10)}`);
    assert.equal(now.filter((id) => !ids.includes(id)).length, 1, `one new instance: ${now.join(' ')}`);
    const crash = JSON.parse((await api('/v1/apps/log-demo/events')).body) as { type: string; description?: string; exit_description?: string }[];
    assert.ok(JSON.stringify(crash).includes('exited with status 137'), `the crash is the container's exit, not a failed health check: ${JSON.stringify(crash).slice(0, 1000)}`);
  });

  test('new containers start on the restarted engine: a scale to 4 is carried out', async () => {
    const scale = await nap(['scale', 'log-demo', '-i', '4'], env);
    assert.equal(scale.code, 0, `${scale.stdout}\n${scale.stderr}`);
    await eventually(async () => (await running()).length === 4, 30_000, 'four running instances');
  });

  test('no component wrote more than 1 MB of log during the outage', (t) => {
    t.diagnostic(`log bytes written during the outage: ${JSON.stringify(logs)}`);
    for (const [c, bytes] of Object.entries(logs)) assert.ok(bytes < LOG_BYTES_PER_OUTAGE, `${c} wrote ${bytes} bytes: ${JSON.stringify(logs)}`);
  });
});
