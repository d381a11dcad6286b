// bench/soak: does nap hold up, and hold its memory, under NAP_SOAK_MINUTES (10 by default) of
// everyday churn? One nap with 2 DEAs; a loop of requests to soak-a through the router the whole
// time; rounds of: a push (examples/hello-node to soak-a and examples/hello-static to soak-b, turn
// about, each time with a changed file so that it stages), a scale of soak-a between 2 and 4, a
// container of soak-a killed from outside and replaced, and every third round an engine killed -9
// and started 5 s later (etcd and nats-server, turn about). Round 1 is a warm-up: memory is
// measured after it and at the end. A failed step is counted and reported, not fatal; the soak
// stops early only when a component has exited or the API no longer answers.
// Writes bench/results/soak.md.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isAlive, sleep } from '@nap/common';
import { eventually, httpGet, nap, repoRoot, requestLoop, TestPlatform } from '@nap/testkit';

const MINUTES = Number(process.env.NAP_SOAK_MINUTES ?? 10);
const COMPONENTS = ['controller-1', 'dea-1', 'dea-2', 'router', 'directory-1', 'directory-2'];
const ENGINES = ['etcd', 'nats-server'];
const GROWTH_GOAL_PCT = 20;

interface Instance {
  index: number;
  instance_id: string;
  state: string;
  /** The slot's crashes since it last ran a minute clean. */
  restarts: number;
}
/** The controller restarts a slot's first three quick crashes at once and delays the next (Cloud Foundry's policy). */
const IMMEDIATE_RESTARTS = 3;
interface Sample {
  pid: number | null;
  mb: number | null;
  fds: number | null;
}

// As bench/chaos reads it.
function rssMb(pid: number | null): number | null {
  if (!pid) return null;
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return null;
  }
}

function openFds(pid: number | null): number | null {
  if (!pid) return null;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/**
 * The testkit keeps its engines' pids to itself (and a restart changes them), but every engine it
 * starts names a file of its temp dir on its command line: that finds the current process.
 */
function enginePid(dir: string, binary: string): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (basename(argv[0]) === binary && argv.some((a) => a.startsWith(dir))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const secs = (fromMs: number) => ((performance.now() - fromMs) / 1000).toFixed(1);
const lastLine = (text: string) => text.trim().split('\n').filter(Boolean).at(-1)?.slice(0, 200) ?? '';

const platform = await TestPlatform.start({ deas: 2 });
const env = platform.cliEnv();
const auth = { Authorization: `Bearer ${platform.adminToken}` };

const pidOf = (name: string) => (ENGINES.includes(name) ? enginePid(platform.engines.dir, name) : platform.pidOf(name));
const sample = (): Record<string, Sample> =>
  Object.fromEntries([...COMPONENTS, ...ENGINES].map((n) => {
    const pid = pidOf(n);
    return [n, { pid, mb: rssMb(pid), fds: openFds(pid) }];
  }));
/** A Node.js process's RSS moves with its garbage collector: the median of 5 readings a second apart. */
async function settledSample(): Promise<Record<string, Sample>> {
  const readings: Record<string, Sample>[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(sample());
    await sleep(1000);
  }
  return Object.fromEntries(
    Object.entries(readings.at(-1)!).map(([n, last]) => {
      const mbs = readings.map((r) => r[n].mb).filter((x): x is number => x !== null);
      return [n, { ...last, mb: mbs.length ? median(mbs) : null }];
    }),
  );
}

const api = (path: string) => httpGet(`${platform.controllerUrl}${path}`, auth).catch((e: Error) => ({ status: 0, body: e.message }));
async function running(app: string): Promise<Instance[]> {
  const r = await api(`/v1/apps/${app}/instances`);
  if (r.status !== 200) throw new Error(`instances of ${app}: ${r.status} ${r.body.slice(0, 100)}`);
  return (JSON.parse(r.body) as Instance[]).filter((i) => i.state === 'RUNNING');
}
async function desired(app: string): Promise<number> {
  const r = await api(`/v1/apps/${app}`);
  if (r.status !== 200) throw new Error(`${app}: ${r.status} ${r.body.slice(0, 100)}`);
  return (JSON.parse(r.body) as { instances: number }).instances;
}
async function push(app: string, dir: string, extra: string[] = []): Promise<void> {
  const r = await nap(['push', app, '-p', dir, ...extra], env);
  if (r.code !== 0) throw new Error(`nap push ${app}: ${lastLine(r.stderr || r.stdout)}`);
}
/** The example plus a file that changes every round: bits unchanged since the last push are not staged again, and a soak should stage. */
async function pushChanged(app: string, example: string, round: number): Promise<void> {
  const copy = await mkdtemp(join(tmpdir(), 'nap-soak-'));
  try {
    await cp(join(repoRoot, example), copy, { recursive: true });
    await writeFile(join(copy, 'soak-round.txt'), `${round}\n`);
    await push(app, copy);
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}
/** MB on disk of what the platform keeps: the blobstore (JetStream), etcd's data, NAP_HOME (DEA dirs, logs). */
function diskMb(): string {
  const du = (path: string) => {
    try {
      return execFileSync('du', ['-sm', path], { encoding: 'utf8' }).split('\t')[0];
    } catch {
      return '-';
    }
  };
  return `JetStream ${du(join(platform.engines.dir, 'jetstream'))}, etcd ${du(join(platform.engines.dir, 'etcd'))}, NAP_HOME ${du(platform.home)}`;
}
async function containersByKind(): Promise<string> {
  const count = new Map<string, number>();
  for (const c of await platform.containers()) {
    const key = `${c.Labels['nap.kind'] ?? '?'} (${c.State})`;
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  return [...count].sort().map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
}

// What the rounds add up to.
const tally = { pushOk: 0, pushFailed: 0, scaleOk: 0, scaleFailed: 0, crashOk: 0, crashFailed: 0, crashSkipped: 0, engineOk: 0, engineFailed: 0, requests: 0, failed: 0 };
const errors: string[] = [];
const failureKinds = new Map<string, number>();
const replacedS: number[] = [];
const apiBackS: number[] = [];
const peak: Record<string, number> = {};
const restarted = new Set<string>();
let rounds = 0;
let stoppedEarly: string | null = null;

let start: Record<string, Sample> = {};
let end: Record<string, Sample> = {};
let containersStart = '';
let diskStart = '';
const lastKilled = new Map<number, number>();
try {
  // Setup: both apps exist before the clock starts; a failure here means there is nothing to soak.
  await push('soak-a', join(repoRoot, 'examples/hello-node'), ['-i', '2']);
  await push('soak-b', join(repoRoot, 'examples/hello-static'), ['-i', '1']);
  await eventually(async () => (await httpGet(`${platform.routerUrl}/`, { Host: 'soak-a.nap.localhost' })).status === 200, 30_000, 'soak-a to answer');
  console.log(`soak: ${MINUTES} min on a nap with 2 DEAs (${platform.engines.dir})`);

  const soakStarted = performance.now();
  const deadline = soakStarted + MINUTES * 60_000;
  let engineTurn = 0;
  while (performance.now() < deadline) {
    const round = ++rounds;
    const roundStarted = performance.now();
    const done: string[] = [];
    // A loop per round, so that a round's failed requests show in its line; it never stops for more than a request.
    const load = requestLoop(platform.routerUrl, 'soak-a.nap.localhost');
    const run = async (name: string, what: () => Promise<string>, counts: [keyof typeof tally, keyof typeof tally]) => {
      const t = performance.now();
      try {
        const note = await what();
        tally[counts[0]]++;
        done.push(`${note} ${secs(t)} s`);
      } catch (err) {
        tally[counts[1]]++;
        const message = (err as Error).message.split('\n')[0].slice(0, 300);
        errors.push(`round ${round}, ${name}: ${message}`);
        done.push(`${name} FAILED after ${secs(t)} s (${message})`);
      }
    };

    const [app, dir] = round % 2 === 1 ? ['soak-a', 'examples/hello-node'] : ['soak-b', 'examples/hello-static'];
    await run('push', async () => {
      await pushChanged(app, dir, round);
      return `push ${app}`;
    }, ['pushOk', 'pushFailed']);

    const target = round % 2 === 1 ? 4 : 2;
    await run('scale', async () => {
      const r = await nap(['scale', 'soak-a', '-i', String(target)], env);
      if (r.code !== 0) throw new Error(`nap scale: ${lastLine(r.stderr || r.stdout)}`);
      await eventually(async () => (await running('soak-a')).length === target, 60_000, `soak-a to run ${target}`);
      return `scale soak-a → ${target}`;
    }, ['scaleOk', 'scaleFailed']);

    await run('crash', async () => {
      const want = await desired('soak-a');
      const now = await running('soak-a');
      // Only a slot the controller restarts at once: a 4th quick crash waits 30 s and more by design,
      // which would measure the policy, not the platform. Among those, the one killed longest ago.
      const victim = now
        .filter((i) => i.restarts < IMMEDIATE_RESTARTS)
        .sort((a, b) => (lastKilled.get(a.index) ?? 0) - (lastKilled.get(b.index) ?? 0) || a.index - b.index)[0];
      if (!victim) {
        tally.crashSkipped++;
        return 'crash skipped (every slot has had 3 quick crashes)';
      }
      const [container] = await platform.containers({ 'nap.kind': 'instance', 'nap.instance_id': victim.instance_id });
      if (!container) throw new Error(`no container for instance ${victim.instance_id}`);
      const t = performance.now();
      lastKilled.set(victim.index, Date.now());
      await platform.killContainer(container.Id);
      await eventually(async () => {
        const after = await running('soak-a');
        return after.length === want && !after.some((i) => i.instance_id === victim.instance_id);
      }, 120_000, `instance ${victim.index} of soak-a to be replaced`);
      replacedS.push((performance.now() - t) / 1000);
      return `crash soak-a/${victim.index}, replaced`;
    }, ['crashOk', 'crashFailed']);

    if (round % 3 === 0) {
      const engine = engineTurn++ % 2 === 0 ? 'etcd' : 'nats-server';
      await run(`${engine} restart`, async () => {
        restarted.add(engine);
        if (engine === 'etcd') await platform.engines.killEtcd();
        else await platform.engines.killNats();
        await sleep(5000);
        if (engine === 'etcd') await platform.engines.startEtcd();
        else await platform.engines.startNats();
        const back = performance.now();
        await eventually(async () => (await api('/v1/apps')).status === 200, 60_000, `the API to answer after ${engine} came back`);
        apiBackS.push((performance.now() - back) / 1000);
        return `${engine} kill -9, back after 5 s, API answered ${secs(back)} s later`;
      }, ['engineOk', 'engineFailed']);
    }

    const { requests, failures } = await load.stop();
    tally.requests += requests;
    tally.failed += failures.length;
    for (const f of failures) failureKinds.set(f.slice(0, 60), (failureKinds.get(f.slice(0, 60)) ?? 0) + 1);
    const now = sample();
    for (const [n, s] of Object.entries(now)) if (s.mb !== null) peak[n] = Math.max(peak[n] ?? 0, s.mb);
    const rss = Object.entries(now).map(([n, s]) => `${n.replace(/-1$/, '')} ${s.mb ?? '-'}`).join(' ');
    console.log(`round ${round} (${secs(soakStarted)} s in, took ${secs(roundStarted)} s): ${done.join('; ')}; ${requests} requests, ${failures.length} failed; RSS MB ${rss}`);

    // The platform is unusable when a component has exited (nothing here starts it again) or the API is gone.
    const dead = COMPONENTS.filter((n) => {
      const pid = platform.pidOf(n);
      return !pid || !isAlive(pid);
    });
    if (dead.length) {
      stoppedEarly = `${dead.join(', ')} exited in round ${round}`;
      for (const n of dead) console.log(`--- ${n} log ---\n${await platform.logTail(n)}`);
      break;
    }
    const apiOk = await eventually(async () => (await api('/v1/apps')).status === 200, 120_000, 'the API').then(() => true, () => false);
    if (!apiOk) {
      stoppedEarly = `the API did not answer for 2 minutes after round ${round}`;
      break;
    }
    if (round === 1) {
      start = await settledSample();
      containersStart = await containersByKind();
      diskStart = diskMb();
    }
  }
  end = await settledSample();
} finally {
  const containersEnd = await containersByKind().catch((e: Error) => e.message);
  const diskEnd = diskMb();
  await platform.stop();
  if (Object.keys(start).length) await report(containersEnd, diskEnd);
}

async function report(containersEnd: string, diskEnd: string): Promise<void> {
  const rows = [...COMPONENTS, ...ENGINES].map((n) => {
    const a = start[n];
    const b = end[n] ?? { pid: null, mb: null, fds: null };
    const growth = a.mb && b.mb !== null ? ((b.mb - a.mb) / a.mb) * 100 : null;
    const note = restarted.has(n) ? ' (restarted by the soak: a new process)' : a.pid !== b.pid ? ' (not the same process)' : '';
    const met = growth === null ? '-' : growth < GROWTH_GOAL_PCT ? 'met' : 'not met';
    return { n, line: `| ${n}${note} | ${a.mb ?? '-'} | ${b.mb ?? '-'} | ${peak[n] ?? '-'} | ${growth === null ? '-' : growth.toFixed(1)} | ${met} | ${a.fds ?? '-'} → ${b.fds ?? '-'} |`, met };
  });
  const napMet = rows.filter((r) => COMPONENTS.includes(r.n)).every((r) => r.met === 'met');
  const kinds = [...failureKinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} × \`${k}\``).join('; ');
  const table = [
    '# bench/soak',
    '',
    `${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. ${MINUTES} minutes on a nap with 2 DEAs. A loop of requests to soak-a (examples/hello-node) through the router the whole time; rounds of: a push (examples/hello-node to soak-a and examples/hello-static to soak-b, turn about, with a file that changes each round so that every push stages), soak-a scaled between 2 and 4, one of its containers killed from outside until replaced, and every third round etcd or nats-server (turn about) killed -9 and started 5 s later. Memory: resident MB, the median of 5 readings a second apart, after round 1 (a warm-up) and after the last round; peak: the highest reading at the end of a round.${stoppedEarly ? ` **Stopped early: ${stoppedEarly}.**` : ''}`,
    '',
    '| component | memory start | memory end | peak | growth % | growth under 20 % | open fds start → end |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => r.line),
    '',
    `Goal: every nap component's memory grows under ${GROWTH_GOAL_PCT} % over the soak: **${napMet ? 'met' : 'not met'}**. The engines are shown for what they cost; a restarted one is a different process at the end.`,
    '',
    `- rounds: ${rounds} (the first a warm-up)`,
    `- requests to soak-a: ${tally.requests}, failed: ${tally.failed}${kinds ? ` (${kinds})` : ''}`,
    `- pushes: ${tally.pushOk} ok, ${tally.pushFailed} failed; scales: ${tally.scaleOk} ok, ${tally.scaleFailed} failed`,
    `- crashes: ${tally.crashOk - tally.crashSkipped} replaced, ${tally.crashFailed} not, ${tally.crashSkipped} skipped (no slot the controller would restart at once)${replacedS.length ? `; killed → replacement running: median ${median(replacedS).toFixed(1)} s, worst ${Math.max(...replacedS).toFixed(1)} s` : ''}`,
    `- engine restarts: ${tally.engineOk} ok, ${tally.engineFailed} failed${apiBackS.length ? `; the API answered a median ${median(apiBackS).toFixed(2)} s, worst ${Math.max(...apiBackS).toFixed(2)} s after the engine's return` : ''}`,
    `- this run's containers after round 1: ${containersStart}; at the end: ${containersEnd}`,
    `- disk MB after round 1: ${diskStart}; at the end: ${diskEnd}`,
    ...(errors.length ? ['', 'Errors:', '', ...errors.slice(0, 30).map((e) => `- ${e}`), ...(errors.length > 30 ? [`- … and ${errors.length - 30} more`] : [])] : []),
    '',
  ].join('\n');
  await writeFile(join(repoRoot, 'bench/results/soak.md'), table);
  console.log(`\n${table}`);
}
