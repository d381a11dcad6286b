// bench/cluster (NAP_BENCH_CLUSTER=3 or 10: only that part; the other rows are kept): nap over several hosts, each a network namespace with its own dockerd
// (deploy/local-cluster, run as a user would). On 3 hosts: push → first 200 through a router;
// scale 1 → 60 instances answering; a host cut off → its instances running elsewhere, and the link
// back → duplicates stopped; a host lost → its instances answering elsewhere. On 10 hosts: 200
// instances converging from nothing. Writes bench/results/cluster.md.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { caPinOf } from '@nap/common/without-engines';
import { eventually, httpGet, nap, repoRoot } from '@nap/testkit';

const run = promisify(execFile);
const app = join(repoRoot, 'cli/test/fixtures/netprobe');
const HOST = 'netprobe.nap.localhost';
const fmt = (ms: number) => (ms / 1000).toFixed(1);

interface Cluster {
  dir: string;
  api: string;
  /** The cluster's CA: its API and directory servers speak TLS. */
  ca: string;
  token: string;
  routers: string[];
  hosts: { index: number; address: string; dockerSocket: string }[];
}
interface Instance {
  index: number;
  state: string;
  host: string;
  port: number;
}

async function localCluster(dir: string, ...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(join(repoRoot, 'deploy/local-cluster'), ['--json', '--dir', dir, ...args], { maxBuffer: 16 * 1024 * 1024, timeout: 900_000 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

async function up(hosts: number, name: string): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), `nap-bench-cluster-${name}-`));
  const started = Date.now();
  const r = (await localCluster(dir, 'up', String(hosts), '--name', name)) as unknown as Omit<Cluster, 'dir'>;
  console.log(`${hosts} hosts up in ${fmt(Date.now() - started)} s`);
  const c = { ...r, dir };
  // The bench's CLI trusts the cluster's CA as a user's would: by the pin nap up prints.
  const targeted = await nap(['target', c.api, '--ca-pin', caPinOf(c.ca)], client(c).env);
  if (targeted.code !== 0) throw new Error(`nap target ${c.api}: ${targeted.stderr}`);
  return c;
}

async function down(c: Cluster): Promise<void> {
  await localCluster(c.dir, 'down').catch((err: Error) => console.error(`down: ${err.message}`));
  rmSync(c.dir, { recursive: true, force: true });
}

function client(c: Cluster) {
  const env = { NAP_API: c.api, NAP_TOKEN: c.token, NAP_HOME: join(c.dir, 'cli') };
  const auth = { Authorization: `Bearer ${c.token}`, 'Content-Type': 'application/json' };
  // A controller that restarts under the load refuses connections for a moment: the bench asks again, for a minute.
  const api = async (path: string, method = 'GET', body?: string) => {
    for (let tries = 0; ; tries++) {
      try {
        return await httpGet(`${c.api}${path}`, auth, method, body, 30_000, { ca: c.ca });
      } catch (err) {
        if (tries >= 30) throw err;
        console.error(`${method} ${path}: ${(err as Error).message}; asking again in 2 s`);
        await new Promise((done) => setTimeout(done, 2000));
      }
    }
  };
  return {
    env,
    instances: async () => JSON.parse((await api('/v1/apps/netprobe/instances')).body) as Instance[],
    scale: async (instances: number) => {
      // A 503 says an engine is briefly away (it names which, and asks to try again): the bench does, for a minute.
      let r = await api('/v1/apps/netprobe', 'PUT', JSON.stringify({ instances }));
      for (let tries = 0; r.status === 503 && tries < 30; tries++) {
        await new Promise((done) => setTimeout(done, 2000));
        r = await api('/v1/apps/netprobe', 'PUT', JSON.stringify({ instances }));
      }
      if (r.status !== 200) throw new Error(`scale to ${instances}: ${r.status} ${r.body}`);
    },
  };
}

/** Until `wanted` different instances answer through the router, asking in rounds of `wanted`. */
async function allAnswer(router: string, wanted: number, timeoutMs: number): Promise<void> {
  const seen = new Set<string>();
  await eventually(
    async () => {
      const answers = await Promise.all(Array.from({ length: Math.min(wanted, 50) }, () => httpGet(`${router}/whoami`, { Host: HOST }).catch(() => null)));
      for (const r of answers) if (r?.status === 200) seen.add(r.body);
      return seen.size >= wanted;
    },
    timeoutMs,
    `${wanted} instances answering through ${router}`,
  );
}

async function containers(c: Cluster): Promise<number> {
  let n = 0;
  for (const h of c.hosts) {
    const { stdout } = await run('docker', ['-H', `unix://${h.dockerSocket}`, 'ps', '-q', '--filter', 'label=nap.kind=instance']).catch(() => ({ stdout: '' }));
    n += stdout.split('\n').filter(Boolean).length;
  }
  return n;
}

/** Until `wanted` instances run, none of them on `lost`, and all answer through host 1's router. */
async function answeringWithout(c: Cluster, lost: string, wanted: number): Promise<void> {
  await eventually(async () => {
    const up = (await client(c).instances()).filter((i) => i.state === 'RUNNING');
    return up.length === wanted && !up.some((i) => i.host === lost);
  }, 300_000, `${wanted} instances running without ${lost}`);
  await allAnswer(c.routers[0], wanted, 120_000);
}

const results = join(repoRoot, 'bench/results/cluster.md');
/** The rows measured before, kept when only some cases run (NAP_BENCH_CLUSTER=3 or 10). */
const rows: [string, string, string][] = (await readFile(results, 'utf8').catch(() => ''))
  .split('\n')
  .filter((l) => l.startsWith('| ') && !l.startsWith('| what |'))
  .map((l) => l.slice(2, -2).split(' | ') as [string, string, string]);

/** The table so far, written after every row: a case that fails later keeps what was measured. */
async function record(row: [string, string, string]): Promise<void> {
  const at = rows.findIndex((r) => r[0] === row[0]);
  if (at >= 0) rows[at] = row;
  else rows.push(row);
  console.log(row.join(' | '));
  const table = [
    '# bench/cluster',
    '',
    `${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. deploy/local-cluster: each host a network namespace with its own address on a private bridge and its own dockerd, all sharing this machine's cores; hosts 1–3 run the engines (etcd members and NATS servers of one cluster, TLS between hosts, the blobstore at three replicas), hosts 1 and 2 a controller, every host a router and a DEA. netprobe (Node.js, 64 MB of memory and 128 MB of disk each) instances; times until the instances answer through the router of host 1.`,
    '',
    '| what | seconds | notes |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ].join('\n');
  await writeFile(results, table);
}

const only = process.env.NAP_BENCH_CLUSTER;

// Three hosts.
if (only === undefined || only === '3') {
  const three = await up(3, 'bench3');
  try {
    const api = client(three);
    let t = Date.now();
    const push = nap(['push', 'netprobe', '-p', app, '-i', '1', '-m', '64M', '-k', '128M'], api.env);
    await eventually(async () => (await httpGet(`${three.routers[0]}/`, { Host: HOST }).catch(() => null))?.status === 200, 120_000, 'the first 200');
    await record(['push → first 200 through a router', fmt(Date.now() - t), '']);
    const pushed = await push;
    if (pushed.code !== 0) throw new Error(pushed.stderr);

    t = Date.now();
    await api.scale(60);
    await eventually(async () => (await api.instances()).filter((i) => i.state === 'RUNNING').length === 60, 300_000, '60 running');
    await allAnswer(three.routers[0], 60, 120_000);
    await record(['scale 1 → 60 instances answering', fmt(Date.now() - t), '']);

    const [, second, third] = three.hosts;
    const onSecond = (await api.instances()).filter((i) => i.host === second.address).length;
    t = Date.now();
    await localCluster(three.dir, 'cut', '2');
    await answeringWithout(three, second.address, 60);
    await record(['host cut off → its instances answering elsewhere', fmt(Date.now() - t), `${onSecond} instances on it`]);
    t = Date.now();
    await localCluster(three.dir, 'heal', '2');
    await eventually(async () => (await containers(three)) === 60, 300_000, '60 containers once host 2 is back');
    await record(['partition healed → duplicates stopped', fmt(Date.now() - t), `${onSecond} stale instances on the healed host`]);

    const onThird = (await api.instances()).filter((i) => i.host === third.address).length;
    t = Date.now();
    await localCluster(three.dir, 'lose', '3');
    await answeringWithout(three, third.address, 60);
    await record(['host lost → its instances answering elsewhere', fmt(Date.now() - t), `${onThird} instances on it; goal ≤ 10 s`]);
  } finally {
    await down(three);
  }
}

// Ten hosts, 200 instances from nothing.
if (only === undefined || only === '10') {
  const ten = await up(10, 'bench10');
  try {
    const api = client(ten);
    const pushed = await nap(['push', 'netprobe', '-p', app, '-i', '1', '-m', '64M', '-k', '128M'], api.env);
    if (pushed.code !== 0) throw new Error(pushed.stderr);
    await api.scale(0);
    await eventually(async () => (await api.instances()).length === 0, 120_000, 'no instance');
    const t = Date.now();
    await api.scale(200);
    const converged = await eventually(async () => (await api.instances()).filter((i) => i.state === 'RUNNING').length === 200, 900_000, '200 running')
      .then(() => allAnswer(ten.routers[0], 200, 300_000))
      .then(() => true, () => false);
    const perHost = ten.hosts.map(() => 0);
    // A controller that went down under the load answers nothing: the row says so rather than the bench dying.
    const now = await api.instances().catch(() => [] as Instance[]);
    for (const i of now) if (i.state === 'RUNNING') perHost[ten.hosts.findIndex((h) => h.address === i.host)]++;
    await record([
      '10 hosts: 0 → 200 instances answering',
      converged ? fmt(Date.now() - t) : `not within ${fmt(Date.now() - t)}`,
      `${perHost.reduce((a, b) => a + b, 0)} running, per host ${perHost.join('/')}`,
    ]);
  } finally {
    await down(ten);
  }
}
