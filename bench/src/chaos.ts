// bench/chaos: what an engine or a part of nap dying costs. For each case, a fresh nap with 2 DEAs
// and a 3-instance app answering a loop of requests through the router; the part is killed with
// -9, left dead for NAP_CHAOS_OUTAGE_S (60 by default, the outage) and started again.
// Reports failed requests, seconds until the app is served again and until the API answers
// after the return, log bytes each component wrote during the outage, and each component's
// memory before and after. Writes bench/results/chaos.md.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '@nap/common';
import { eventually, httpGet, nap, repoRoot, startDockerd, type TestDockerd, TestPlatform } from '@nap/testkit';

const OUTAGE_S = Number(process.env.NAP_CHAOS_OUTAGE_S ?? 60);
const COMPONENTS = ['controller-1', 'dea-1', 'dea-2', 'router', 'directory-1', 'directory-2'];

interface Case {
  name: string;
  kill(p: TestPlatform): Promise<void>;
  start(p: TestPlatform): Promise<void>;
  /** The platform runs on a Docker engine of the case's own (`dockerd`), the one it kills. */
  ownDockerd?: boolean;
}

/** The case's own engine, for the dockerd case; the machine's is never touched. */
let dockerd: TestDockerd | null = null;

/** nap's own programs come back as the supervisor (or systemd) brings them: started again by pid. */
const program = (name: string, service: string): Case => ({
  name,
  kill: (p) => p.stopService(service, { kill: true }),
  start: async (p) => {
    p.startService(service);
  },
});

const CASES: Case[] = [
  { name: 'etcd kill -9', kill: (p) => p.engines.killEtcd(), start: (p) => p.engines.startEtcd() },
  { name: 'nats-server kill -9', kill: (p) => p.engines.killNats(), start: (p) => p.engines.startNats() },
  program('DEA kill -9 (its containers live on)', 'dea-1'),
  program('controller kill -9', 'controller-1'),
  program('directory server kill -9', 'directory-1'),
  program('router kill -9 (the only router: requests fail until it is back)', 'router'),
  { name: 'dockerd kill -9 (live-restore: containers run on)', kill: () => dockerd!.kill(), start: () => dockerd!.start(), ownDockerd: true },
];

function rssMb(pid: number | null): number | null {
  if (!pid) return null;
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return null;
  }
}

interface Result {
  name: string;
  requests: number;
  failed: number;
  servedAgainS: number;
  apiBackS: number | null;
  logBytes: Record<string, number>;
  memBefore: Record<string, number | null>;
  memAfter: Record<string, number | null>;
}

async function runCase(c: Case): Promise<Result> {
  if (c.ownDockerd) {
    dockerd = await startDockerd();
    await dockerd.copyImage(loadSettings({}).stackImage);
  }
  const platform = await TestPlatform.start({ deas: 2, ...(dockerd ? { env: { NAP_DOCKER_SOCKET: dockerd.socket } } : {}) });
  try {
    const push = await nap(['push', 'steady', '-p', `${repoRoot}examples/hello-node`, '-i', '3'], platform.cliEnv());
    if (push.code !== 0) throw new Error(`push failed: ${push.stderr}`);
    const api = () => httpGet(`${platform.controllerUrl}/v1/apps`, { Authorization: `Bearer ${platform.adminToken}` }).catch(() => ({ status: 0 }));
    await eventually(async () => (await httpGet(`${platform.routerUrl}/`, { Host: 'steady.nap.localhost' })).status === 200, 30_000, 'the app to answer');
    const sizes = platform.logSizes(COMPONENTS);
    const memBefore = Object.fromEntries(COMPONENTS.map((n) => [n, rssMb(platform.pidOf(n))]));

    // The loop notes the time of each failure, to tell when serving came back.
    let requests = 0;
    // Counted, not listed: with the router down, the loop fails hundreds of thousands of times.
    let failed = 0;
    let lastFailure: number | null = null;
    let going = true;
    const loop = (async () => {
      while (going) {
        const r = await httpGet(`${platform.routerUrl}/`, { Host: 'steady.nap.localhost' }).catch(() => ({ status: 0 }));
        requests++;
        if (r.status !== 200) {
          failed++;
          lastFailure = Date.now();
        }
      }
    })();

    console.log(`${c.name}: killed, back in ${OUTAGE_S} s`);
    await c.kill(platform);
    await new Promise((r) => setTimeout(r, OUTAGE_S * 1000));
    await c.start(platform);
    const back = Date.now();
    let apiBackS: number | null = null;
    while (Date.now() - back < 60_000) {
      if ((await api()).status === 200) {
        apiBackS = (Date.now() - back) / 1000;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 5000));
    going = false;
    await loop;
    const logBytes = platform.loggedSince(sizes);
    return {
      name: c.name,
      requests,
      failed,
      servedAgainS: lastFailure ? Math.max(0, (lastFailure - back) / 1000) : 0,
      apiBackS,
      logBytes,
      memBefore,
      memAfter: Object.fromEntries(COMPONENTS.map((n) => [n, rssMb(platform.pidOf(n))])),
    };
  } finally {
    await platform.stop();
    await dockerd?.stop();
    dockerd = null;
  }
}

// `node chaos.js router dockerd` measures only the cases whose names start so; the others keep the
// figures of their last run (bench/results/chaos.json), so the table always shows every case.
const only = process.argv.slice(2);
const saved = join(repoRoot, 'bench/results/chaos.json');
const earlier = new Map<string, Result>((existsSync(saved) ? (JSON.parse(readFileSync(saved, 'utf8')) as Result[]) : []).map((r) => [r.name, r]));
for (const c of CASES.filter((x) => only.length === 0 || only.some((o) => x.name.startsWith(o)))) {
  const r = await runCase(c);
  console.log(JSON.stringify(r));
  earlier.set(r.name, r);
  await writeFile(saved, `${JSON.stringify([...earlier.values()], null, 1)}\n`);
}
const results = CASES.map((c) => earlier.get(c.name)).filter((r): r is Result => r !== undefined);

const mem = (m: Record<string, number | null>) => COMPONENTS.map((n) => `${n.replace(/-1$/, '')} ${m[n] ?? '-'}`).join(', ');
const table = [
  '# bench/chaos',
  '',
  `${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. A nap with 2 DEAs and a 3-instance examples/hello-node answering a loop of requests through the router; the part is killed with -9, left dead ${OUTAGE_S} s, then started again. "Served again" counts from its return (0: never stopped serving). Log bytes: what each component wrote during the outage and the 5 s after, less the router's access log. Memory: resident MB.`,
  '',
  '| case | requests | failed | served again s | API answers s | log bytes (max component) | memory before | memory after |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map((r) => {
    const [worst, bytes] = Object.entries(r.logBytes).sort((a, b) => b[1] - a[1])[0];
    return `| ${r.name} | ${r.requests} | ${r.failed} | ${r.servedAgainS.toFixed(2)} | ${r.apiBackS === null ? 'no answer in 60 s' : r.apiBackS.toFixed(2)} | ${bytes} (${worst}) | ${mem(r.memBefore)} | ${mem(r.memAfter)} |`;
  }),
  '',
  "Goals (issue 12): 0 failed requests for each of these cases but the router's own (with one router, requests fail while it is down; it serves again at once on its return); the API within 5 s of the return; under 1 MB of log per component for a 60 s outage.",
  '',
].join('\n');
await writeFile(join(repoRoot, 'bench/results/chaos.md'), table);
console.log(`\n${table}`);
