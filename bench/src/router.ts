// bench/router: the router's throughput and latency next to the backend reached directly and next
// to nginx (keep-alive reverse proxy to the same backend), with wrk, all on 127.0.0.1; then route
// lookups per second and memory with 100,000 routes in a RouteTable, and registrations processed
// per second through NATS. Installs wrk and nginx (Debian packages) when missing. Writes
// bench/results/router.md. Everything it starts runs on loopback and is stopped by pid, except two
// more backends in containers, as instances run: one on the host's network (the path before issue
// 11), one in its own network namespace on a nap bridge network the bench makes and removes,
// reached through a DNAT'ed host port as the router reaches an instance (needs root).
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Bus,
  createLogger,
  freePort,
  isAlive,
  loadSettings,
  natsServerArgs,
  spawnDetached,
  stopPid,
  subjects,
  waitForPort,
} from '@nap/common';
import { httpGet, repoRoot } from '@nap/testkit';
import { registrationHost } from './router/hosts.js';
import { writeNginxConfig } from './router/nginx.js';
import { cpuSeconds } from './router/cpu.js';
import { runWrk, wrkArgs, type WrkResult } from './router/wrk.js';
import { type ContainerBackend, startContainerBackend } from './router/container-backend.js';

const THREADS = 2;
const CONNECTIONS = 64;
const SECONDS = 10;
const WARMUP_SECONDS = 3;
const LOW_LOAD_SECONDS = 5;
/** Loaded runs alternate between the targets this many times; the median is reported (the machine is shared and noisy). */
const ROUNDS = Number(process.env.BENCH_ROUTER_ROUNDS) || 3;
const TABLE_ROUTES = 100_000;
const NATS_REGISTRATIONS = 100_000;
const HOST = 'bench.nap.localhost';
/** The routes to the backends in containers: on the host's network, and in their own namespace through the mapped host port. */
const HOST_HOSTNET = 'bench-hostnet.nap.localhost';
const HOST_NS = 'bench-ns.nap.localhost';
const cores = cpus().length;
/** The router's processes: its default (one per core, like nginx's worker_processes auto) unless BENCH_ROUTER_WORKERS says. */
const routerWorkers = Number(process.env.BENCH_ROUTER_WORKERS) || cores;
const here = new URL('.', import.meta.url).pathname;

// ---- tools --------------------------------------------------------------------------------------

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  // nginx lives in /usr/sbin, which a non-root PATH may lack.
  for (const dir of ['/usr/sbin', '/usr/local/sbin']) if (existsSync(join(dir, cmd))) return join(dir, cmd);
  return undefined;
}

function aptInstall(packages: string[]): boolean {
  const r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

/** wrk and nginx from Debian's packages when missing; returns nginx's path. */
async function ensureTools(): Promise<string> {
  const missing: string[] = [];
  if (!which('wrk')) missing.push('wrk');
  // Not nginx-light: on bookworm that is only a transitional package pulling nginx and extra modules.
  if (!which('nginx')) missing.push('nginx');
  if (missing.length > 0) {
    console.log(`installing ${missing.join(' ')} …`);
    const servicePid = '/run/nginx.pid';
    const serviceRanBefore = existsSync(servicePid);
    let ok = aptInstall(missing);
    if (!ok) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
      ok = aptInstall(missing);
    }
    if (!ok) throw new Error(`could not install ${missing.join(' ')} with apt-get`);
    // Where no policy-rc.d holds it back, the package starts a system nginx on port 80: this
    // install started it, so it is ours to stop.
    if (missing.includes('nginx') && !serviceRanBefore && existsSync(servicePid)) {
      const pid = Number(readFileSync(servicePid, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0) await stopPid(pid, 5000);
    }
  }
  const nginx = which('nginx');
  if (!which('wrk') || !nginx) throw new Error('wrk or nginx still missing after the install');
  return nginx;
}

// ---- processes ----------------------------------------------------------------------------------

const started: { name: string; pid: number }[] = [];
const watchers: number[] = [];

/** Starts a program detached, logging to `logFile`; if this bench is killed, it follows (by pid). */
function start(name: string, command: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): number {
  const pid = spawnDetached(command, args, { logFile, env });
  started.push({ name, pid });
  watchers.push(
    spawnDetached('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${pid} 2>/dev/null`], { logFile: '/dev/null' }),
  );
  return pid;
}

async function stop(pid: number): Promise<void> {
  await stopPid(pid, 5000);
  const i = started.findIndex((s) => s.pid === pid);
  if (i !== -1) started.splice(i, 1);
}

async function stopAll(): Promise<void> {
  for (const s of [...started].reverse()) {
    if (s.name === 'router') await stopRouter(s.pid);
    else await stopPid(s.pid, 5000);
  }
  started.length = 0;
  await Promise.all(watchers.map((w) => stopPid(w, 2000)));
  watchers.length = 0;
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-15).join('\n');
}

async function listening(name: string, pid: number, port: number, log: string): Promise<void> {
  if (!(await waitForPort('127.0.0.1', port, 20_000, () => isAlive(pid)))) {
    throw new Error(`${name} did not start listening on ${port}:\n${await tail(log)}`);
  }
}

async function until200(name: string, url: string, pid: number, log: string, host = HOST): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline && isAlive(pid)) {
    const r = await httpGet(url, { Host: host }).catch((err: Error) => ({ status: 0, body: err.message }));
    if (r.status === 200 && r.body === 'hello') return;
    last = `${r.status} ${r.body.slice(0, 200)}`;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no 200 "hello" through ${name} (last: ${last}):\n${await tail(log)}`);
}

/** Environment for our node children: ours without any NAP_* the caller may have, plus `extra`. */
function napEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NAP_')) env[k] = v;
  return { ...env, ...extra };
}

/** The children of `pid` (a router's workers), by pgrep. */
function childrenOf(pid: number): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return r.error ? [] : r.stdout.split('\n').filter(Boolean).map(Number);
}

/** A router with workers: the primary first (it stops its workers), then any worker left behind. */
async function stopRouter(pid: number): Promise<void> {
  const workers = childrenOf(pid);
  await stop(pid);
  await Promise.all(workers.map((w) => stopPid(w, 5000)));
}

// ---- in-process measures ------------------------------------------------------------------------

interface TableFigures {
  routes: number;
  heapUsedDelta: number;
  rssDelta: number;
  registerPerSec: number;
  lookupsPerSec: number;
}

function measureTable(): Promise<TableFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', join(here, 'router/table.js'), String(TABLE_ROUTES)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as TableFigures) : reject(new Error(`table measure exited with ${code}`))));
  });
}

interface RegistrationFigures {
  perSec: number;
  publishMs: number;
  totalMs: number;
  rssDelta: number;
  heapUsedDelta: number;
}

type SinkMessage = { ready?: boolean; done?: boolean; missing?: number; rssDelta?: number; heapUsedDelta?: number };

function nextMessage(child: ChildProcess, timeoutMs: number, what: string): Promise<SinkMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}`)), timeoutMs);
    const onMessage = (m: SinkMessage) => finish(undefined, m);
    const onExit = (code: number | null) => finish(new Error(`the in-process router exited (${code}) before ${what}`));
    const finish = (err?: Error, m?: SinkMessage) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** N router.register messages for distinct hosts, published at once; until the table holds them all. */
async function measureRegistrations(dir: string, natsEnv: Record<string, string>): Promise<RegistrationFigures> {
  const log = join(dir, 'in-process-router.log');
  const env = napEnv({
    ...natsEnv,
    NAP_HOME: join(dir, 'home'),
    NAP_ROUTER_PORT: String(await freePort()),
    NAP_ROUTER_STATUS_PORT: String(await freePort()),
    NAP_ROUTER_WORKERS: '1',
    NAP_LOG_LEVEL: 'warn',
  });
  const fd = openSync(log, 'a');
  const child = fork(join(here, 'router/registrations.js'), [String(NATS_REGISTRATIONS)], {
    execArgv: ['--expose-gc'],
    env,
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  const pid = child.pid!;
  started.push({ name: 'in-process router', pid });
  const bus = await Bus.connect(loadSettings(env), { name: 'bench-router-publisher', log: createLogger('bench', 'warn') });
  try {
    const ready = await nextMessage(child, 30_000, 'the in-process router to start').catch(async (err: Error) => {
      throw new Error(`${err.message}:\n${await tail(log)}`);
    });
    if (!ready.ready) throw new Error('unexpected message from the in-process router');
    // Bodies made beforehand: the clock is for the router, not for JSON.stringify here.
    const bodies = Array.from({ length: NATS_REGISTRATIONS }, (_, i) =>
      JSON.stringify({
        host: '127.0.0.1',
        port: 20000 + (i % 40000),
        uris: [registrationHost(i)],
        app: `reg-${i}`,
        private_instance_id: `reg-${i}-0`,
      }),
    );
    const done = nextMessage(child, 180_000, 'every registration to reach the table');
    child.send({ go: true });
    const t0 = performance.now();
    for (const body of bodies) bus.nc.publish(subjects.routerRegister, body);
    await bus.flush();
    const publishMs = performance.now() - t0;
    const result = await done;
    const totalMs = performance.now() - t0;
    if (!result.done || result.missing !== 0) {
      throw new Error(`${result.missing} of ${NATS_REGISTRATIONS} registrations never reached the table:\n${await tail(log)}`);
    }
    return { perSec: NATS_REGISTRATIONS / (totalMs / 1000), publishMs, totalMs, rssDelta: result.rssDelta!, heapUsedDelta: result.heapUsedDelta! };
  } finally {
    await bus.close();
    if (child.connected) child.disconnect();
    await stop(pid);
  }
}

// ---- figures ------------------------------------------------------------------------------------

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function median<T>(items: T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)];
}

interface Bucket {
  le_ms: number | string;
  count: number;
}

/** The router's own-time histogram from /varz (the primary's sum over its workers). */
async function routerOwnTime(statusPort: number): Promise<Bucket[]> {
  const r = await httpGet(`http://127.0.0.1:${statusPort}/varz`);
  if (r.status !== 200) throw new Error(`/varz answered ${r.status}`);
  return (JSON.parse(r.body) as { latency: { router: { buckets: Bucket[] } } }).latency.router.buckets;
}

function bucketDelta(after: Bucket[], before: Bucket[]): Bucket[] {
  return after.map((b, i) => ({ le_ms: b.le_ms, count: b.count - (before[i]?.count ?? 0) }));
}

/** The upper bound of the bucket holding quantile q, in ms (Infinity past the last bound). */
function histogramQuantile(buckets: Bucket[], q: number): number {
  const total = buckets.reduce((sum, b) => sum + b.count, 0);
  let seen = 0;
  for (const b of buckets) {
    seen += b.count;
    if (total > 0 && seen >= q * total) return typeof b.le_ms === 'number' ? b.le_ms : Infinity;
  }
  return Infinity;
}

// ---- the run ------------------------------------------------------------------------------------

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (ms: number) => `${ms.toFixed(3)} ms`;
const fmtMb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const ratio = (a: number, b: number) => (a / b).toFixed(2);

interface Target {
  name: string;
  url: string;
  host: string;
  /** The proxy's processes, whose CPU is counted (none for the backend reached directly). */
  pids: () => number[];
}

const nginxBin = await ensureTools();
const nginxVersion = (spawnSync(nginxBin, ['-v'], { encoding: 'utf8' }).stderr.trim().split('/')[1] ?? '?').split(' ')[0];
const wrkVersion = (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0].split(' ')[1] ?? '?').replace(/^debian\//, '');

// Which router was measured: the last commit touching it, and whether its sources differ from it.
const git = (...args: string[]) => spawnSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';
const routerCommit = git('log', '-1', '--format=%h', '--', 'services/router', 'libs/common') || 'unknown';
const routerDirty = git('status', '--porcelain', '--', 'services/router', 'libs/common') !== '';
const routerBuild = `services/router and libs/common at ${routerCommit}${routerDirty ? ' with uncommitted changes' : ''}`;

const dir = await mkdtemp(join(tmpdir(), 'nap-bench-router-'));
/** A round with errors leaves the processes' logs behind, to find out why. */
let keepLogs = false;
const logs = join(dir, 'logs');
await mkdir(logs);
let publisher: Bus | undefined;
const containerBackends: ContainerBackend[] = [];
let reRegister: NodeJS.Timeout | undefined;
try {
  // NATS
  const natsPort = await freePort();
  const natsPassword = Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  const natsEnv = { NAP_NATS_URL: `nats://127.0.0.1:${natsPort}`, NAP_NATS_USER: 'nap', NAP_NATS_PASSWORD: natsPassword };
  const natsLog = join(logs, 'nats.log');
  const nats = start(
    'nats-server',
    'nats-server',
    natsServerArgs({ port: natsPort, storeDir: join(dir, 'jetstream'), user: 'nap', password: natsPassword, configFile: join(dir, 'nats.conf') }),
    natsLog,
  );
  await listening('nats-server', nats, natsPort, natsLog);

  // The backend
  const backendPort = await freePort();
  const backendLog = join(logs, 'backend.log');
  const backend = start('backend', process.execPath, [join(here, 'router/backend.js'), String(backendPort)], backendLog);
  await listening('the backend', backend, backendPort, backendLog);
  const hostnetBackend = await startContainerBackend('host', logs);
  containerBackends.push(hostnetBackend);
  const nsBackend = await startContainerBackend('namespace', logs);
  containerBackends.push(nsBackend);

  // The router: its own main, in its own process(es)
  const routerPort = await freePort();
  const routerStatusPort = await freePort();
  const routerLog = join(logs, 'router.log');
  const routerEnv = napEnv({
    ...natsEnv,
    // No etcd in this bench: a closed loopback port, so the router never reads the machine's own
    // etcd; it routes without claims, and the hot path (an exact host) is the same either way.
    NAP_ETCD_URLS: `http://127.0.0.1:${await freePort()}`,
    NAP_HOME: join(dir, 'home'),
    NAP_ROUTER_PORT: String(routerPort),
    NAP_ROUTER_STATUS_PORT: String(routerStatusPort),
    NAP_ROUTER_WORKERS: String(routerWorkers),
    NAP_LOG_LEVEL: 'warn',
    NAP_PARENT_PID: String(process.pid),
  });
  const router = start('router', process.execPath, [join(repoRoot, 'services/router/dist/src/main.js')], routerLog, routerEnv);
  await listening('the router', router, routerPort, routerLog);
  // NAP_ROUTER_WORKERS (a worker per core, like nginx's worker_processes auto) comes with issue 5;
  // a build without it ignores the variable and runs one process, and the results say so.
  const workersSetting = (loadSettings(routerEnv) as unknown as { routerWorkers?: number }).routerWorkers;

  // The route, as a DEA announces it, and again every 10 s (well inside the 120 s prune threshold).
  publisher = await Bus.connect(loadSettings(routerEnv), { name: 'bench-router', log: createLogger('bench', 'warn') });
  // The namespaced backend as a DEA announces an instance: NAP_DEA_HOST (127.0.0.1) and its host port.
  const announce = () => {
    publisher!.nc.publish(
      subjects.routerRegister,
      JSON.stringify({ host: '127.0.0.1', port: backendPort, uris: [HOST], private_instance_id: 'bench-0', app: 'bench' }),
    );
    publisher!.nc.publish(
      subjects.routerRegister,
      JSON.stringify({ host: '127.0.0.1', port: hostnetBackend.hostPort, uris: [HOST_HOSTNET], private_instance_id: 'bench-hostnet-0', app: 'bench-hostnet' }),
    );
    publisher!.nc.publish(
      subjects.routerRegister,
      JSON.stringify({ host: '127.0.0.1', port: nsBackend.hostPort, uris: [HOST_NS], private_instance_id: 'bench-ns-0', app: 'bench-ns' }),
    );
  };
  announce();
  reRegister = setInterval(announce, 10_000);
  await until200('the router', `http://127.0.0.1:${routerPort}/`, router, routerLog);
  await until200('the router to the namespace', `http://127.0.0.1:${routerPort}/`, router, routerLog, HOST_NS);
  await until200('the router to the host-network container', `http://127.0.0.1:${routerPort}/`, router, routerLog, HOST_HOSTNET);
  if (workersSetting && workersSetting > 1) {
    const deadline = Date.now() + 15_000;
    while (childrenOf(router).length < workersSetting && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }

  // nginx, in the foreground as our child
  const nginxPort = await freePort();
  const nginxConf = await writeNginxConfig(dir, nginxPort, backendPort);
  const nginxLog = join(logs, 'nginx.log');
  const nginx = start('nginx', nginxBin, ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', nginxConf], nginxLog);
  await listening('nginx', nginx, nginxPort, nginxLog).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await tail(join(dir, 'nginx-error.log'))}`);
  });
  await until200('nginx', `http://127.0.0.1:${nginxPort}/`, nginx, join(dir, 'nginx-error.log'));

  const targets: Target[] = [
    { name: 'direct', url: `http://127.0.0.1:${backendPort}/`, host: HOST, pids: () => [] },
    { name: 'router', url: `http://127.0.0.1:${routerPort}/`, host: HOST, pids: () => [router, ...childrenOf(router)] },
    { name: 'nginx', url: `http://127.0.0.1:${nginxPort}/`, host: HOST, pids: () => [nginx, ...childrenOf(nginx)] },
    // An instance's two paths, back to back so that both see the same load from elsewhere: a
    // container on the host's network, and one in its own namespace behind nap's DNAT'ed host port.
    { name: 'direct-hn', url: `http://127.0.0.1:${hostnetBackend.hostPort}/`, host: HOST_HOSTNET, pids: () => [] },
    { name: 'direct-ns', url: `http://127.0.0.1:${nsBackend.hostPort}/`, host: HOST_NS, pids: () => [] },
    { name: 'router-hn', url: `http://127.0.0.1:${routerPort}/`, host: HOST_HOSTNET, pids: () => [router, ...childrenOf(router)] },
    { name: 'router-ns', url: `http://127.0.0.1:${routerPort}/`, host: HOST_NS, pids: () => [router, ...childrenOf(router)] },
  ];
  const loaded: Record<string, WrkResult> = {};
  /** Microseconds of CPU per request under load: the proxy's processes, and the backend's. */
  const cpuPerRequest: Record<string, { proxy: number; backend: number }> = {};
  const rounds: Record<string, { result: WrkResult; cpu: { proxy: number; backend: number } }[]> = {};
  const oneConn: Record<string, WrkResult> = {};
  const headers = { Host: HOST };
  const shown = wrkArgs({ url: 'URL', threads: THREADS, connections: CONNECTIONS, seconds: SECONDS, headers }).map((a) => (a.includes(' ') ? `'${a}'` : a));
  console.log(
    `wrk ${shown.join(' ')} against each of ${targets.map((t) => t.name).join(', ')} in turn, ${ROUNDS} rounds, after a ${WARMUP_SECONDS} s warm-up of each`,
  );
  for (const t of targets) await runWrk({ url: t.url, threads: THREADS, connections: CONNECTIONS, seconds: WARMUP_SECONDS, headers: { Host: t.host } });
  const routerTimeBefore = await routerOwnTime(routerStatusPort);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of targets) {
      const pids = t.pids();
      const [proxyBefore, backendBefore] = [cpuSeconds(pids), cpuSeconds([backend])];
      const r = await runWrk({ url: t.url, threads: THREADS, connections: CONNECTIONS, seconds: SECONDS, headers: { Host: t.host } });
      const us = (seconds: number) => (seconds * 1e6) / Math.max(1, r.requests);
      const cpu = { proxy: us(cpuSeconds(pids) - proxyBefore), backend: us(cpuSeconds([backend]) - backendBefore) };
      (rounds[t.name] ??= []).push({ result: r, cpu });
      if (r.errors > 0) keepLogs = true;
      console.log(
        `round ${round} ${t.name.padEnd(9)} ${fmtInt(r.requestsPerSec).padStart(8)} req/s  p50 ${fmtMs(r.p50)}  p99 ${fmtMs(r.p99)}  errors ${r.errors}${r.errorKinds ? ` (${r.errorKinds})` : ''}  CPU/request: proxy ${cpu.proxy.toFixed(1)} µs, backend ${cpu.backend.toFixed(1)} µs`,
      );
    }
  }
  const loadAtEnd = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  // The median round of each target, by requests/s; its CPU figures are the medians too.
  for (const t of targets) {
    const list = rounds[t.name];
    loaded[t.name] = median(list.map((x) => x.result), (r) => r.requestsPerSec);
    cpuPerRequest[t.name] = { proxy: medianOf(list.map((x) => x.cpu.proxy)), backend: medianOf(list.map((x) => x.cpu.backend)) };
  }
  const roundRatios = rounds.router.map((x, i) => x.result.requestsPerSec / rounds.nginx[i].result.requestsPerSec);
  // The router's own time per request (first byte of the head in to the last byte out, less the
  // app's time), from its /varz histogram over the loaded rounds; workers report every second.
  await new Promise((r) => setTimeout(r, 1500));
  const routerOwnP50 = histogramQuantile(bucketDelta(await routerOwnTime(routerStatusPort), routerTimeBefore), 0.5);
  // The same at one connection: the time each proxy adds to a request, without queueing.
  for (const t of targets) {
    const r = await runWrk({ url: t.url, threads: 1, connections: 1, seconds: LOW_LOAD_SECONDS, headers: { Host: t.host } });
    oneConn[t.name] = r;
    console.log(`${t.name.padEnd(6)} 1 connection: ${fmtInt(r.requestsPerSec).padStart(8)} req/s  p50 ${fmtMs(r.p50)}  p99 ${fmtMs(r.p99)}  errors ${r.errors}`);
  }
  const routerPids = [router, ...childrenOf(router)];
  const rssOf = (pid: number) => Number(spawnSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim() || 0) * 1024;
  const routerRss = routerPids.reduce((sum, pid) => sum + rssOf(pid), 0);

  clearInterval(reRegister);
  await publisher.close();
  publisher = undefined;
  // Free the cores for the in-process measures.
  await stop(nginx);
  await stopRouter(router);
  await stop(backend);
  for (const b of containerBackends.splice(0)) await b.stop();

  const table = await measureTable();
  console.log(
    `RouteTable with ${fmtInt(table.routes)} routes: ${fmtInt(table.lookupsPerSec)} lookups/s, heap +${fmtMb(table.heapUsedDelta)}, RSS +${fmtMb(table.rssDelta)}, ${fmtInt(table.registerPerSec)} direct registrations/s`,
  );
  const regs = await measureRegistrations(dir, natsEnv);
  console.log(
    `${fmtInt(NATS_REGISTRATIONS)} router.register on NATS: all in the table after ${regs.totalMs.toFixed(0)} ms (published in ${regs.publishMs.toFixed(0)} ms): ${fmtInt(regs.perSec)}/s; router RSS +${fmtMb(regs.rssDelta)}`,
  );

  const { direct, router: viaRouter, nginx: viaNginx } = loaded;
  const nsRatios = rounds['router-hn'].map((x, i) => rounds['router-ns'][i].result.requestsPerSec / x.result.requestsPerSec);
  const hn = loaded['router-hn'];
  const ns = loaded['router-ns'];
  const addedP50 = viaRouter.p50 - direct.p50;
  const addedP50OneConn = oneConn.router.p50 - oneConn.direct.p50;
  const nginxAddedP50OneConn = oneConn.nginx.p50 - oneConn.direct.p50;
  const meets = (ok: boolean) => (ok ? 'met' : '**not met**');
  const cpuModel = cpus()[0]?.model.trim() ?? '?';
  const row = (what: string, f: (r: WrkResult) => string) => `| ${what} | ${f(direct)} | ${f(viaRouter)} | ${f(viaNginx)} |`;
  const routerHow =
    `with NAP_ROUTER_WORKERS=${routerWorkers}: ` +
    (routerPids.length > 1 ? `a primary and ${routerPids.length - 1} worker processes` : 'a single process') +
    (workersSetting === undefined ? ' (this build has no such setting yet)' : '');

  const md = [
    '# bench/router',
    '',
    `${cores} cores (${cpuModel}), ${new Date().toISOString().slice(0, 10)}, \`npm run bench:router\` (bench/src/router.ts).`,
    '',
    `wrk ${wrkVersion}, \`-t${THREADS} -c${CONNECTIONS} -d${SECONDS}s --latency -H 'Host: ${HOST}'\` against each target in turn, ${ROUNDS} rounds after a ${WARMUP_SECONDS} s warm-up of each (the table shows each target's median round), all on 127.0.0.1, ` +
      `wrk, backend and proxy sharing the machine's ${cores} cores. The backend is one Node process (a separate one) answering \`hello\` with keep-alive. ` +
      `The router is its own main (\`services/router/dist/src/main.js\`) in processes of its own (${routerBuild}), started ${routerHow}, log level warn (no per-request log), route registered over a real nats-server. ` +
      `nginx ${nginxVersion}: \`worker_processes auto\`, \`access_log off\`, upstream \`keepalive 64\` (idle 4 s), HTTP/1.1 to the backend, and the forwarding headers the router sets (X-Forwarded-For/-Proto/-Host, X-Request-Id, X-Vcap-Request-Id).`,
    '',
    `| ${CONNECTIONS} connections | backend directly | router | nginx |`,
    '|---|---|---|---|',
    row('requests/s', (r) => fmtInt(r.requestsPerSec)),
    row('p50 latency', (r) => fmtMs(r.p50)),
    row('p99 latency', (r) => fmtMs(r.p99)),
    row('errors (socket + non-2xx)', (r) => String(r.errors)),
    `| CPU per request: proxy, backend | –, ${cpuPerRequest.direct.backend.toFixed(1)} µs | ${cpuPerRequest.router.proxy.toFixed(1)} µs, ${cpuPerRequest.router.backend.toFixed(1)} µs | ${cpuPerRequest.nginx.proxy.toFixed(1)} µs, ${cpuPerRequest.nginx.backend.toFixed(1)} µs |`,
    `| 1 connection (${LOW_LOAD_SECONDS} s): requests/s, p50 | ${fmtInt(oneConn.direct.requestsPerSec)}, ${fmtMs(oneConn.direct.p50)} | ${fmtInt(oneConn.router.requestsPerSec)}, ${fmtMs(oneConn.router.p50)} | ${fmtInt(oneConn.nginx.requestsPerSec)}, ${fmtMs(oneConn.nginx.p50)} |`,
    '',
    '| figure | value | target |',
    '|---|---|---|',
    `| router / nginx, requests/s (medians of ${ROUNDS} rounds) | ${ratio(viaRouter.requestsPerSec, viaNginx.requestsPerSec)} | ≥ 1.0 (${meets(viaRouter.requestsPerSec >= viaNginx.requestsPerSec)}) |`,
    `| router / nginx in each round | ${roundRatios.map((x) => x.toFixed(2)).join(', ')} | |`,
    `| router / backend directly, requests/s | ${ratio(viaRouter.requestsPerSec, direct.requestsPerSec)} | |`,
    `| router's own time per request, p50 (its /varz histogram: head read to answer written, less the app's time), ${CONNECTIONS} connections | ≤ ${fmtMs(routerOwnP50)} | < 0.2 ms (${meets(routerOwnP50 <= 0.2)}) |`,
    `| added p50 seen by wrk (router p50 − direct p50), ${CONNECTIONS} connections: mostly waiting for a core, shared by wrk, app and proxy | ${fmtMs(addedP50)} | (nginx: ${fmtMs(viaNginx.p50 - direct.p50)}) |`,
    `| added p50 seen by wrk, 1 connection (no queueing) | ${fmtMs(addedP50OneConn)} | < 0.2 ms (${meets(addedP50OneConn < 0.2)}; nginx adds ${fmtMs(nginxAddedP50OneConn)}) |`,
    `| router RSS after the runs (${routerPids.length > 1 ? 'primary and workers' : 'its one process'}) | ${fmtMb(routerRss)} | |`,
    `| route lookups/s, ${fmtInt(table.routes)} routes in a RouteTable (random hosts, one process) | ${fmtInt(table.lookupsPerSec)} | |`,
    `| heap used by those ${fmtInt(table.routes)} routes (after GC) | ${fmtMb(table.heapUsedDelta)} (${Math.round(table.heapUsedDelta / table.routes)} B/route) | |`,
    `| RSS growth for them | ${fmtMb(table.rssDelta)} | |`,
    `| RouteTable.register calls/s (direct, no NATS) | ${fmtInt(table.registerPerSec)} | |`,
    `| registrations processed/s via NATS (${fmtInt(NATS_REGISTRATIONS)} distinct hosts published at once, until all are in an in-process startRouter's table) | ${fmtInt(regs.perSec)} (${(regs.totalMs / 1000).toFixed(2)} s) | |`,
    `| that router's RSS growth, start → ${fmtInt(NATS_REGISTRATIONS)} routes (heap +${fmtMb(regs.heapUsedDelta)}) | ${fmtMb(regs.rssDelta)} | |`,
    '',
    "## nap's instance path: the backend in its own network namespace",
    '',
    `The same backend.js, with the same node binary, in two containers of the stack image, registered as a DEA registers an instance (127.0.0.1 and a host port): ` +
      `"host network" is the path before issue 11 (the container on the host's network, listening on that port); "own namespace" is nap's path now ` +
      `(the container on a nap bridge network the bench made, with its own nft table as a DEA makes it; the table DNATs the host port to the container's address and port 8080: ` +
      `output hook, route_localnet and masquerade on the bridge). Both targets run back to back in each round.`,
    '',
    `| ${CONNECTIONS} connections | host network | own namespace (DNAT'ed host port) | namespace / host network |`,
    '|---|---|---|---|',
    `| backend directly, requests/s | ${fmtInt(loaded['direct-hn'].requestsPerSec)} | ${fmtInt(loaded['direct-ns'].requestsPerSec)} | ${ratio(loaded['direct-ns'].requestsPerSec, loaded['direct-hn'].requestsPerSec)} |`,
    `| through the router, requests/s | ${fmtInt(hn.requestsPerSec)} | ${fmtInt(ns.requestsPerSec)} | ${ratio(ns.requestsPerSec, hn.requestsPerSec)} |`,
    `| through the router, p50 / p99 | ${fmtMs(hn.p50)} / ${fmtMs(hn.p99)} | ${fmtMs(ns.p50)} / ${fmtMs(ns.p99)} | |`,
    `| through the router, errors | ${hn.errors} | ${ns.errors} | |`,
    `| through the router, router CPU per request | ${cpuPerRequest['router-hn'].proxy.toFixed(1)} µs | ${cpuPerRequest['router-ns'].proxy.toFixed(1)} µs | |`,
    `| through the router, 1 connection: requests/s, p50 | ${fmtInt(oneConn['router-hn'].requestsPerSec)}, ${fmtMs(oneConn['router-hn'].p50)} | ${fmtInt(oneConn['router-ns'].requestsPerSec)}, ${fmtMs(oneConn['router-ns'].p50)} | |`,
    `| router-ns / router-hn in each round | | | ${nsRatios.map((x) => x.toFixed(2)).join(', ')} |`,
    `| router-ns / router-hn, median of the rounds' ratios | | | ${medianOf(nsRatios).toFixed(2)} |`,
    `| load average (1 min) at the end of the loaded rounds | ${loadAtEnd} | | |`,
    `| goal: through the router within 5 % of the host network (median ratio ≥ 0.95) | | | ${meets(medianOf(nsRatios) >= 0.95)} |`,
    '',
  ];
  const text = md.join('\n');
  await writeFile(join(repoRoot, 'bench/results/router.md'), text);
  console.log(`\n${text}`);
} finally {
  clearInterval(reRegister);
  await publisher?.close().catch(() => undefined);
  for (const b of containerBackends.splice(0)) await b.stop().catch(() => undefined);
  await stopAll();
  if (keepLogs) console.log(`some rounds had errors: the logs are in ${logs}`);
  else await rm(dir, { recursive: true, force: true });
}
