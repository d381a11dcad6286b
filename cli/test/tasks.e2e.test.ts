import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, TestPlatform } from '@nap/testkit';

interface TaskRow {
  sequence_id: number;
  name: string;
  state: string;
  exit_status: number | null;
  failure_reason: string | null;
  duration_s: number | null;
}

/**
 * Issue 16's one-off tasks through the CLI on real engines: the app's droplet run once with a
 * command and the app's env; state, exit status, duration and output readable afterwards; a
 * running task terminated; another developer refused.
 */
describe('one-off tasks: nap run-task, tasks, logs --task, terminate-task', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  let dir: string;

  const tasks = async (as = env) => {
    const r = await nap(['tasks', 'jobs', '--json'], as);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as TaskRow[];
  };
  const run = async (command: string, extra: string[] = []) => {
    const r = await nap(['run-task', 'jobs', command, ...extra, '--json'], env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout) as TaskRow;
  };
  const ended = (sequence: number) =>
    eventually(async () => {
      const t = (await tasks()).find((x) => x.sequence_id === sequence);
      return t && t.state !== 'RUNNING' && t.state !== 'PENDING' ? t : null;
    }, 60_000, `task ${sequence} to end`);

  before(async () => {
    platform = await TestPlatform.start();
    env = platform.cliEnv();
    dir = mkdtempSync(join(tmpdir(), 'nap-tasks-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'jobs', version: '1.0.0', private: true }));
    writeFileSync(join(dir, 'server.js'), "require('http').createServer((q, s) => s.end('jobs\\n')).listen(process.env.PORT);\n");
    // A migration: it writes its mark into the app's files and says what it did on both streams.
    writeFileSync(
      join(dir, 'migrate.js'),
      "require('fs').writeFileSync('migrated.txt', `schema 7 for ${process.env.DATABASE}\\n`);\nconsole.log('migrated 3 rows');\nconsole.error('warning: nothing to roll back');\n",
    );
    const pushed = await nap(['push', 'jobs', '-p', dir, '-m', '128M'], env);
    assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
    const set = await nap(['set-env', 'jobs', 'DATABASE', 'orders-db'], env);
    assert.equal(set.code, 0, set.stderr);
  });

  after(async () => {
    await platform?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a migration-style task runs once with the app's env, writes its file, and its exit status and output are readable", async () => {
    const started = await run('node migrate.js', ['--name', 'migrate']);
    assert.equal(started.name, 'migrate');
    assert.equal(started.state, 'RUNNING');
    const done = await ended(started.sequence_id);
    assert.equal(done.state, 'SUCCEEDED', JSON.stringify(done));
    assert.equal(done.exit_status, 0);
    assert.ok(done.duration_s !== null && done.duration_s >= 0);
    // The file it wrote, in the task's own copy of the app on the DEA's disk.
    const tasksDir = join(platform.home, 'dea-1', 'tasks');
    const marks = readdirSync(tasksDir).map((id) => join(tasksDir, id, 'app', 'migrated.txt')).filter((f) => existsSync(f));
    assert.equal(marks.length, 1, `one task wrote migrated.txt under ${tasksDir}`);
    assert.equal(readFileSync(marks[0], 'utf8'), 'schema 7 for orders-db\n');
    const logs = await nap(['logs', 'jobs', '--task', String(started.sequence_id)], env);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /task\.1\/out.*migrated 3 rows/);
    assert.match(logs.stdout, /task\.1\/err.*warning: nothing to roll back/);
  });

  test('a task that fails is FAILED with its exit status and its last words', async () => {
    const started = await run(`node -e "console.error('boom'); process.exit(3)"`);
    const done = await ended(started.sequence_id);
    assert.deepEqual([done.state, done.exit_status, done.failure_reason], ['FAILED', 3, 'the task exited with status 3']);
    const logs = await nap(['logs', 'jobs', '--task', String(started.sequence_id)], env);
    assert.match(logs.stdout, /boom/);
  });

  test('terminate-task stops a running task, recorded as cancelled', async () => {
    const started = await run('sleep 600');
    const stop = await nap(['terminate-task', 'jobs', String(started.sequence_id)], env);
    assert.equal(stop.code, 0, stop.stderr);
    const done = await ended(started.sequence_id);
    assert.equal(done.state, 'FAILED');
    assert.equal(done.failure_reason, 'cancelled by admin');
    const again = await nap(['terminate-task', 'jobs', String(started.sequence_id)], env);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /is not running \(FAILED\)/);
  });

  test("another developer can neither run a task on the app, nor list its tasks, nor read their output", async () => {
    const made = await nap(['users', 'create', 'mallory', '--json'], env);
    assert.equal(made.code, 0, made.stderr);
    const mallory = { ...env, NAP_TOKEN: (JSON.parse(made.stdout) as { token: string }).token };
    const before = (await tasks()).length;
    const r = await nap(['run-task', 'jobs', 'cat /proc/1/environ'], mallory);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /belongs to another user/);
    assert.equal((await tasks()).length, before, 'no task was made');
    const list = await nap(['tasks', 'jobs'], mallory);
    assert.match(list.stderr, /belongs to another user/);
    const logs = await nap(['logs', 'jobs', '--task', '1'], mallory);
    assert.notEqual(logs.code, 0);
    assert.doesNotMatch(logs.stdout, /migrated 3 rows/);
  });

  test("metrics: the router's /metrics counts the app's requests; the controller's /v1/metrics (admins only) its tasks and API latency", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await httpGet(`${platform.routerUrl}/`, { Host: 'jobs.nap.localhost' })).status, 200);
    const router = await eventually(async () => {
      const r = await httpGet(`http://127.0.0.1:${platform.env.NAP_ROUTER_STATUS_PORT}/metrics`);
      const n = Number(/^nap_router_app_requests_total\{app="jobs",class="2xx"\} (\d+)$/m.exec(r.body)?.[1] ?? 0);
      return n >= 3 ? r.body : null;
    }, 10_000, "the router's count of jobs' requests");
    assert.match(router, /^nap_router_app_bytes_total\{app="jobs",direction="out"\} [1-9]\d*$/m);
    const controller = await httpGet(`${platform.controllerUrl}/v1/metrics`, { Authorization: `Bearer ${platform.adminToken}` });
    assert.equal(controller.status, 200);
    assert.match(controller.body, /^nap_controller_tasks_started_total [3-9]\d*$/m);
    assert.match(controller.body, /nap_controller_http_request_duration_seconds_count\{method="POST",route="\/v1\/apps\/:name\/tasks",status="202"\} [3-9]/);
    assert.doesNotMatch(controller.body, /route="\/v1\/apps\/jobs/, 'routes are patterns, not app names');
    // The last minute as the API sums it from the routers' reports (every 10 s).
    const stats = await eventually(async () => {
      const r = await httpGet(`${platform.controllerUrl}/v1/apps/jobs/stats`, { Authorization: `Bearer ${platform.adminToken}` });
      const body = JSON.parse(r.body) as { traffic: { requests: number; responses: Record<string, number>; latency_ms: { p99: number | null } }; instances: unknown[] };
      return body.traffic.requests >= 3 ? body : null;
    }, 30_000, "the app's last minute in GET /v1/apps/jobs/stats");
    assert.ok(stats.traffic.responses['2xx'] >= 3);
    assert.ok(stats.traffic.latency_ms.p99 !== null && stats.traffic.latency_ms.p99 > 0);
    assert.equal(stats.instances.length, 1);
    // The DEA's own, on its status port: the instance it runs.
    const deaStatus = platform.serviceEnv('dea-1')?.NAP_DEA_STATUS_PORT;
    const dea = await httpGet(`http://127.0.0.1:${deaStatus}/metrics`);
    assert.equal(dea.status, 200);
    assert.match(dea.body, /^nap_dea_instances\{state="RUNNING"\} [1-9]/m);
    assert.match(dea.body, /^nap_dea_tasks_running \d+$/m);
    const made = await nap(['users', 'create', 'eve', '--json'], env);
    const eve = (JSON.parse(made.stdout) as { token: string }).token;
    assert.equal((await httpGet(`${platform.controllerUrl}/v1/metrics`, { Authorization: `Bearer ${eve}` })).status, 403);
  });

  test("a running task counts against its app owner's quota", async () => {
    const made = await nap(['users', 'create', 'quinn', '--json'], env);
    const quinn = { ...env, NAP_TOKEN: (JSON.parse(made.stdout) as { token: string }).token };
    assert.equal((await nap(['quota', 'quinn', '--memory', '100M'], env)).code, 0);
    const pushed = await nap(['push', 'quinns', '-p', dir, '-m', '64M'], quinn);
    assert.equal(pushed.code, 0, pushed.stderr);
    const over = await nap(['run-task', 'quinns', 'sleep 30', '-m', '64M'], quinn);
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /quinn's quota allows 100 MB of memory; this would make 128/);
    const list = JSON.parse((await nap(['tasks', 'quinns', '--json'], quinn)).stdout) as TaskRow[];
    assert.deepEqual(list, [], 'no task was made');
    const fits = await nap(['run-task', 'quinns', 'sleep 30', '-m', '32M', '--json'], quinn);
    assert.equal(fits.code, 0, fits.stderr);
    // While that one runs, a second of 32 MB is over (64 + 32 + 32 > 100).
    const second = await nap(['run-task', 'quinns', 'sleep 30', '-m', '32M'], quinn);
    assert.match(second.stderr, /quota allows 100 MB of memory; this would make 128 \(96 in use\)/);
    await nap(['terminate-task', 'quinns', String((JSON.parse(fits.stdout) as TaskRow).sequence_id)], quinn);
  });

  test('bad input changes nothing: no command, an unknown field, a task that does not exist', async () => {
    const before = (await tasks()).length;
    const empty = await nap(['run-task', 'jobs', ''], env);
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /a task needs a command/);
    const none = await nap(['logs', 'jobs', '--task', '999'], env);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /has no task 999/);
    assert.equal((await tasks()).length, before);
  });
});
