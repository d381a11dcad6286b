import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Bus, channels, createLogger, isAlive, loadSettings, waitForPort } from '@nap/common';
import { answerName, Harness, send, type Backend } from './support/harness.js';
import { freePort, startNatsServer, waitFor, type NatsServer } from './support/processes.js';

const main = fileURLToPath(new URL('../src/main.js', import.meta.url));
const log = createLogger('router-test', 'silent');
let nats: NatsServer;
let bus: Bus;
let router: ChildProcess;
let routerPort: number;
let statusPort: number;
let output = '';
const apps = new Harness(); // only for its backends
let one: Backend;
let two: Backend;

interface Varz {
  workers: number;
  requests: number;
  responses: Record<string, number>;
  routes: number;
  nats: string;
  processes: { pid: number; routes: number; requests: number }[];
}

const varz = async () => JSON.parse((await send(statusPort, 'localhost', { path: '/varz' })).body) as Varz;

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  nats = await startNatsServer();
  routerPort = await freePort();
  statusPort = await freePort();
  const env = {
    ...nats.env,
    NAP_ROUTER_PORT: String(routerPort),
    NAP_ROUTER_STATUS_PORT: String(statusPort),
    NAP_ROUTER_WORKERS: '2',
    // A closed loopback port: the test's router must not read the machine's own etcd.
    NAP_ETCD_URLS: `http://127.0.0.1:${await freePort()}`,
    NAP_ROUTER_STATUS_PASSWORD: 'pw-for-routes',
    NAP_LOG_LEVEL: 'warn',
    NAP_PARENT_PID: String(process.pid),
  };
  router = spawn(process.execPath, [main], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  router.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  router.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  if (!(await waitForPort('127.0.0.1', statusPort, 15_000, () => router.exitCode === null))) throw new Error(`the router did not start:\n${output}`);
  bus = await Bus.connect(loadSettings(env), { name: 'router-test', log });
  one = await apps.backend('one', answerName());
  two = await apps.backend('two', answerName());
});

after(async () => {
  if (router?.pid && router.exitCode === null) {
    const exited = new Promise((r) => router.once('exit', r));
    router.kill('SIGTERM');
    await exited;
  }
  await bus?.close();
  await Promise.all(apps.backends.map((b) => b.close()));
  await nats?.stop();
});

test('two workers each hold the whole table, serve requests, and the status port adds them up', async () => {
  let v = await until('two workers reporting', varz, (x) => x.workers === 2);
  const pids = v.processes.map((p) => p.pid);
  assert.equal(new Set(pids).size, 2);
  assert.ok(!pids.includes(router.pid!), 'the primary proxies nothing itself');
  for (const b of [one, two]) {
    bus.publish(channels.routerRegister, { host: '127.0.0.1', port: b.port, uris: ['multi.test'], private_instance_id: b.name });
  }
  // Every worker hears every registration: each has both routes (one host, two endpoints).
  v = await until('both workers with the route', varz, (x) => x.processes.length === 2 && x.processes.every((p) => p.routes === 2));
  assert.equal(v.nats, 'connected');

  const N = 200;
  const bodies = await Promise.all(Array.from({ length: N }, () => send(routerPort, 'multi.test').then((r) => r.body)));
  assert.deepEqual([...new Set(bodies)].sort(), ['one', 'two']);
  v = await until('the requests counted', varz, (x) => x.requests >= N);
  assert.equal(v.responses['2xx'], N);

  const auth = `Basic ${Buffer.from('router:pw-for-routes').toString('base64')}`;
  const routes = JSON.parse((await send(statusPort, 'localhost', { path: '/routes', headers: { authorization: auth } })).body);
  assert.equal(routes['multi.test'].length, 2);
});

test('a worker that dies is replaced, and the router keeps serving meanwhile', async () => {
  const before = await varz();
  const victim = before.processes[0].pid;
  process.kill(victim, 'SIGKILL');
  await waitFor('the worker gone', () => !isAlive(victim));
  // node:cluster hands a connection to a worker until the primary has seen it exit; one handed to
  // a worker already dead is lost (round_robin_handle never hears back). The window is the
  // primary's next turn of its loop: wait for it, as a client of a real router would not notice.
  await until('the primary to see the worker gone', varz, (x) => !x.processes.some((p) => p.pid === victim));
  // The other worker answers while the new one starts.
  for (let i = 0; i < 20; i++) assert.equal((await send(routerPort, 'multi.test')).status, 200);
  const after = await until(
    'a new worker',
    varz,
    (x) => x.workers === 2 && !x.processes.some((p) => p.pid === victim) && x.processes.every((p) => p.routes >= 0),
    15_000,
  );
  // The newcomer learns the table from the DEAs' next registrations (router.start asks for them at once).
  for (const b of [one, two]) {
    bus.publish(channels.routerRegister, { host: '127.0.0.1', port: b.port, uris: ['multi.test'], private_instance_id: b.name });
  }
  await until('the new worker with the route', varz, (x) => x.processes.every((p) => p.routes === 2));
  // Counters of the dead worker are kept, not lost.
  assert.ok((await varz()).requests >= before.requests + 20);
  assert.equal(after.workers, 2);
  for (let i = 0; i < 20; i++) assert.equal((await send(routerPort, 'multi.test')).status, 200);
});

test('SIGTERM stops the primary and every worker', async () => {
  const pids = (await varz()).processes.map((p) => p.pid);
  const exited = new Promise<number | null>((r) => router.once('exit', (code) => r(code)));
  router.kill('SIGTERM');
  assert.equal(await exited, 0);
  await waitFor('the workers gone', () => pids.every((p) => !isAlive(p)), 5000);
});
