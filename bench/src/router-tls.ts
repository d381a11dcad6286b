// bench/router-tls: HTTPS through the router (issue 17) against nginx terminating TLS with the same
// certificate and key, in front of the same backend, with wrk, all on 127.0.0.1. Two figures per
// proxy: keep-alive requests per second over TLS, and new TLS handshakes per second (every request
// on a new connection, `Connection: close`; wrk resumes no session, so each is a full handshake).
// Goal: the router at ≥ 1.0 of nginx's requests per second. Writes bench/results/router-tls.md.
// Needs wrk and nginx (npm run bench:router installs them).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  type CertificateRecord,
  certificateRecord,
  checkCertificate,
  connectEtcd,
  etcdArgs,
  freePort,
  isAlive,
  keys,
  loadSettings,
  makeSelfSignedCertificate,
  natsServerArgs,
  spawnDetached,
  stopPid,
  subjects,
  waitForPort,
  Bus,
  createLogger,
} from '@nap/common';
import { repoRoot } from '@nap/testkit';
import { writeNginxConfig } from './router/nginx.js';
import { runWrk, type WrkResult } from './router/wrk.js';

const THREADS = 2;
const CONNECTIONS = 64;
const SECONDS = Number(process.env.BENCH_SECONDS) || 10;
const ROUNDS = Number(process.env.BENCH_ROUTER_ROUNDS) || 3;
const DOMAIN = 'nap.localhost';
const HOST = `bench.${DOMAIN}`;
const here = new URL('.', import.meta.url).pathname;

const pids: number[] = [];
function start(command: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): number {
  const pid = spawnDetached(command, args, { logFile, env });
  pids.push(pid);
  return pid;
}
async function up(name: string, pid: number, port: number, log: string): Promise<void> {
  if (!(await waitForPort('127.0.0.1', port, 20_000, () => isAlive(pid)))) throw new Error(`${name} did not listen on ${port}:\n${await readFile(log, 'utf8').catch(() => '')}`);
}
const median = (rs: WrkResult[]) => [...rs].sort((a, b) => a.requestsPerSec - b.requestsPerSec)[Math.floor(rs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const dir = await mkdtemp(join(tmpdir(), 'nap-bench-tls-'));
const logs = join(dir, 'logs');
await mkdir(logs);
let bus: Bus | undefined;
let reRegister: NodeJS.Timeout | undefined;
try {
  const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => spawnSync(p, ['-v']).status === 0);
  if (!nginxBin || spawnSync('wrk', ['-v']).error) throw new Error('wrk or nginx missing: run npm run bench:router once (it installs them)');

  const [natsPort, etcdPort, backendPort, routerPort, tlsPort, statusPort, nginxPort] = await Promise.all(Array.from({ length: 7 }, () => freePort()));
  const natsPassword = randomBytes(12).toString('hex');
  const nats = start('nats-server', natsServerArgs({ port: natsPort, storeDir: join(dir, 'js'), user: 'nap', password: natsPassword, configFile: join(dir, 'nats.conf') }), join(logs, 'nats.log'));
  const etcd = start('etcd', etcdArgs({ name: 'bench', dataDir: join(dir, 'etcd'), clientPort: etcdPort, peerPort: await freePort() }), join(logs, 'etcd.log'));
  const backend = start(process.execPath, [join(here, 'router/backend.js'), String(backendPort)], join(logs, 'backend.log'));
  await up('nats-server', nats, natsPort, join(logs, 'nats.log'));
  await up('etcd', etcd, etcdPort, join(logs, 'etcd.log'));
  await up('the backend', backend, backendPort, join(logs, 'backend.log'));

  // One certificate, as the controller keeps it: the platform's default and the host's own.
  const certKey = randomBytes(32).toString('hex');
  const made = await makeSelfSignedCertificate(DOMAIN);
  await writeFile(join(dir, 'cert.pem'), made.cert);
  await writeFile(join(dir, 'key.pem'), made.key);
  const record = (domain: string): CertificateRecord => certificateRecord(checkCertificate(made.cert, made.key, domain), made.key, certKey, { domain, source: 'upload', owner: 'admin' });
  const env = { NAP_NATS_URL: `nats://127.0.0.1:${natsPort}`, NAP_NATS_USER: 'nap', NAP_NATS_PASSWORD: natsPassword, NAP_ETCD_URLS: `http://127.0.0.1:${etcdPort}` };
  const etcdClient = connectEtcd(loadSettings({ ...env, NAP_LOG_LEVEL: 'silent' }));
  await etcdClient.put(keys.defaultCert()).value(JSON.stringify(record(DOMAIN)));
  await etcdClient.put(keys.cert(HOST)).value(JSON.stringify(record(HOST)));
  etcdClient.close();

  const workers = Number(process.env.BENCH_ROUTER_WORKERS) || availableParallelism();
  const routerEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...(process.env.NODE_CLUSTER_SCHED_POLICY ? { NODE_CLUSTER_SCHED_POLICY: process.env.NODE_CLUSTER_SCHED_POLICY } : {}),
    ...env,
    NAP_HOME: join(dir, 'home'),
    NAP_ROUTER_PORT: String(routerPort),
    NAP_ROUTER_TLS_PORT: String(tlsPort),
    NAP_ROUTER_STATUS_PORT: String(statusPort),
    NAP_ROUTER_WORKERS: String(workers),
    NAP_CERT_KEY: certKey,
    NAP_LOG_LEVEL: 'warn',
    NAP_PARENT_PID: String(process.pid),
  };
  const router = start(process.execPath, [join(repoRoot, 'services/router/dist/src/main.js')], join(logs, 'router.log'), routerEnv);
  await up('the router', router, tlsPort, join(logs, 'router.log'));
  bus = await Bus.connect(loadSettings({ ...env, NAP_LOG_LEVEL: 'silent' }), { name: 'bench-tls', log: createLogger('bench', 'warn') });
  const announce = () => bus!.nc.publish(subjects.routerRegister, JSON.stringify({ host: '127.0.0.1', port: backendPort, uris: [HOST], private_instance_id: 'bench-0', app: 'bench' }));
  announce();
  reRegister = setInterval(announce, 10_000);

  const nginxConf = await writeNginxConfig(dir, nginxPort, backendPort, { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') });
  const nginx = start(nginxBin, ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', nginxConf], join(logs, 'nginx.log'));
  await up('nginx', nginx, nginxPort, join(dir, 'nginx-error.log'));

  // The route reaches the router's workers, then a warm-up of each.
  const targets = [
    { name: 'router', url: `https://127.0.0.1:${tlsPort}/` },
    { name: 'nginx', url: `https://127.0.0.1:${nginxPort}/` },
  ];
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await runWrk({ url: targets[0].url, threads: 1, connections: 1, seconds: 1, headers: { Host: HOST } }).catch(() => null);
    if (r && r.requests > 0 && r.errors === 0) break;
    if (Date.now() > deadline) throw new Error(`no answer over TLS through the router:\n${await readFile(join(logs, 'router.log'), 'utf8')}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  for (const t of targets) await runWrk({ url: t.url, threads: THREADS, connections: CONNECTIONS, seconds: 3, headers: { Host: HOST } });

  const kinds: { name: string; headers: Record<string, string> }[] = [
    { name: 'keep-alive requests/s', headers: { Host: HOST } },
    { name: 'new TLS handshakes/s', headers: { Host: HOST, Connection: 'close' } },
  ];
  const results: Record<string, Record<string, WrkResult[]>> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const k of kinds) {
      for (const t of targets) {
        const r = await runWrk({ url: t.url, threads: THREADS, connections: CONNECTIONS, seconds: SECONDS, headers: k.headers });
        ((results[k.name] ??= {})[t.name] ??= []).push(r);
        console.log(`round ${round} ${k.name.padEnd(22)} ${t.name.padEnd(7)} ${fmt(r.requestsPerSec).padStart(8)}/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}${r.errorKinds ? ` (${r.errorKinds})` : ''}`);
      }
    }
  }
  const rows = kinds.map((k) => {
    const router = median(results[k.name].router);
    const ref = median(results[k.name].nginx);
    return `| ${k.name} | ${fmt(router.requestsPerSec)} | ${fmt(ref.requestsPerSec)} | ${(router.requestsPerSec / ref.requestsPerSec).toFixed(2)} | ${router.p99.toFixed(2)} / ${ref.p99.toFixed(2)} | ${router.errors} / ${ref.errors} |`;
  });
  const nginxVersion = (spawnSync(nginxBin, ['-v'], { encoding: 'utf8' }).stderr.trim().split('/')[1] ?? '?').split(' ')[0];
  const text = `# bench/router-tls

HTTPS through the router (TLS on NAP_ROUTER_TLS_PORT, the certificate from etcd by SNI) against
nginx ${nginxVersion} terminating TLS with the same self-signed P-256 certificate, both in front of
the same keep-alive backend, all on 127.0.0.1. wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s, the
median of ${ROUNDS} rounds; new handshakes: every request on a new connection (\`Connection:
close\`; wrk resumes no session). Router workers: ${workers}; nginx: worker_processes auto. Measured
${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}.
Goal: the router at ≥ 1.0 of nginx's requests per second.

| figure | router | nginx | router / nginx | p99 ms (router / nginx) | errors (router / nginx) |
|---|---|---|---|---|---|
${rows.join('\n')}

\`npm run bench:router-tls\`
`;
  await writeFile(join(repoRoot, 'bench/results/router-tls.md'), text);
  console.log(`\n${text}`);
} finally {
  clearInterval(reRegister);
  await bus?.close().catch(() => {});
  for (const pid of pids.reverse()) await stopPid(pid, 5000);
  await rm(dir, { recursive: true, force: true });
}
