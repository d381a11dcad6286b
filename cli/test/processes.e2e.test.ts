import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

interface InstanceDetail {
  index: number;
  instance_id: string;
  process_type: string;
  state: string;
  port: number;
}

interface AppShown {
  processes: { type: string; instances: number; running_instances: number; command: string | null }[];
  instance_details: InstanceDetail[];
}

describe('process types: web and worker from one Procfile, on real NATS, etcd and Docker', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  const host = 'web-worker.nap.localhost';

  const shown = async (): Promise<AppShown> => JSON.parse((await nap(['app', 'web-worker', '--json'], env)).stdout) as AppShown;
  const running = (app: AppShown, type: string) => app.instance_details.filter((i) => i.process_type === type && i.state === 'RUNNING');

  before(async () => {
    platform = await TestPlatform.start();
    env = platform.cliEnv();
  });

  after(async () => {
    await platform?.stop();
  });

  test('push runs the web and the one worker its manifest asks for; only web is routed', async () => {
    const push = await nap(['push', 'web-worker', '-p', `${repoRoot}examples/web-worker`], env);
    assert.equal(push.code, 0, `push failed:\n${push.stdout}\n${push.stderr}\n${await platform.logTail('dea-1')}`);
    const res = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: host });
      return r.status === 200 ? r : null;
    }, 10_000, 'the web process to answer');
    assert.match(res.body, /Hello from nap! \(web-worker web instance 0\)/);

    const app = await eventually(async () => {
      const a = await shown();
      return running(a, 'worker').length === 1 ? a : null;
    }, 30_000, 'the worker to run');
    assert.deepEqual(app.processes.map((p) => [p.type, p.instances]), [['web', 1], ['worker', 1]]);
    assert.match(app.processes.find((p) => p.type === 'worker')?.command ?? '', /worker/);

    // The worker proves it runs by what it writes; its lines are labelled with its type.
    const logs = await eventually(async () => {
      const l = await nap(['logs', 'web-worker', '--recent'], env);
      return /worker\.0\/out.*worker 0 tick/.test(l.stdout) ? l : null;
    }, 20_000, 'the worker to log its ticks');
    assert.match(logs.stdout, /worker\.0\/out/);
  });

  test('nap scale web-worker worker=3 runs three workers and leaves web alone', async () => {
    const webBefore = running(await shown(), 'web').map((i) => i.instance_id);
    const scale = await nap(['scale', 'web-worker', 'worker=3'], env);
    assert.equal(scale.code, 0, scale.stderr);
    const app = await eventually(async () => {
      const a = await shown();
      return running(a, 'worker').length === 3 ? a : null;
    }, 60_000, 'three workers');
    assert.deepEqual(running(app, 'worker').map((i) => i.index).sort(), [0, 1, 2]);
    assert.deepEqual(running(app, 'web').map((i) => i.instance_id), webBefore, 'scaling a worker does not restart web');
    const text = await nap(['app', 'web-worker'], env);
    assert.match(text.stdout, /worker\s+2\s+running/);

    const events = await nap(['events', 'web-worker', '--json'], env);
    const scaled = (JSON.parse(events.stdout) as { type: string; detail?: Record<string, unknown> }[]).find((e) => e.type === 'scaled');
    assert.deepEqual(scaled?.detail, { process_type: 'worker', from: 1, to: 3 });
  });

  test('a type the Procfile does not have is refused, naming the ones it has', async () => {
    const bad = await nap(['scale', 'web-worker', 'reporter=2'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no process type reporter \(it has web, worker\)/);
    const app = await shown();
    assert.equal(app.processes.some((p) => p.type === 'reporter'), false);
  });

  test('scaling workers to 0 stops them; the web keeps answering', async () => {
    const scale = await nap(['scale', 'web-worker', 'worker=0'], env);
    assert.equal(scale.code, 0, scale.stderr);
    await eventually(async () => (running(await shown(), 'worker').length === 0 ? true : null), 30_000, 'the workers to stop');
    await eventually(async () => ((await platform.containers({ 'nap.process_type': 'worker' })).length === 0 ? true : null), 20_000, 'worker containers to go');
    assert.equal((await httpGet(`${platform.routerUrl}/`, { Host: host })).status, 200);
  });
});
