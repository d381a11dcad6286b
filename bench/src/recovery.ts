// bench/recovery: how fast nap converges, median of 5 runs each, on a whole nap with 3 DEAs:
// - crash: a container killed from outside → a replacement answering through the router;
// - DEA loss: kill -9 of a DEA and its containers → all its instances answering elsewhere;
// - scale 1 → 20 → all 20 instances answering through the router.
// Writes bench/results/recovery.md.
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

const RUNS = 5;
interface Instance {
  index: number;
  instance_id: string;
  state: string;
  dea_id: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number) => (ms / 1000).toFixed(2);

const platform = await TestPlatform.start({ deas: 3 });
const env = platform.cliEnv();
const auth = { Authorization: `Bearer ${platform.adminToken}` };
const running = async (app: string) => {
  const r = await httpGet(`${platform.controllerUrl}/v1/apps/${app}/instances`, auth);
  return (JSON.parse(r.body) as Instance[]).filter((i) => i.state === 'RUNNING');
};
const answeredBy = async (app: string) => {
  const r = await httpGet(`${platform.routerUrl}/instance`, { Host: `${app}.nap.localhost` });
  return r.status === 200 ? (JSON.parse(r.body) as { instance_id: string; instance_index: number }) : null;
};
async function push(app: string, instances: number): Promise<void> {
  const r = await nap(['push', app, '-p', join(repoRoot, 'examples/hello-node'), '-i', String(instances)], env);
  if (r.code !== 0) throw new Error(r.stderr);
  await eventually(async () => (await running(app)).length === instances, 60_000, `${app} to run ${instances}`);
}
async function scale(app: string, instances: number): Promise<void> {
  const r = await httpGet(`${platform.controllerUrl}/v1/apps/${app}`, { ...auth, 'Content-Type': 'application/json' }, 'PUT', JSON.stringify({ instances }));
  if (r.status !== 200) throw new Error(r.body);
}

try {
  // Crash: a different index each run (the back-off counts crashes per index), its container killed;
  // until a new instance at that index answers through the router.
  await push('crashy', RUNS);
  const crash: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const victim = (await running('crashy')).find((i) => i.index === run)!;
    const [container] = await platform.containers({ 'nap.instance_id': victim.instance_id });
    const started = performance.now();
    await platform.killContainer(container.Id);
    await eventually(async () => {
      const by = await answeredBy('crashy');
      return by !== null && by.instance_index === run && by.instance_id !== victim.instance_id;
    }, 60_000, 'a replacement answering');
    crash.push(performance.now() - started);
    console.log(`crash → replacement answering: ${fmt(crash[run])} s`);
  }

  // DEA loss: 6 instances over 3 DEAs; one DEA and its containers killed.
  await push('spread', 6);
  const loss: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const name = `dea-${(run % 3) + 1}`;
    const deaId = `${name}-${platform.installationId}`;
    const lost = (await running('spread')).filter((i) => i.dea_id === deaId).length;
    const started = performance.now();
    await platform.stopService(name, { kill: true });
    for (const c of await platform.containers({ 'nap.dea': deaId })) await platform.removeContainer(c.Id);
    await eventually(async () => {
      const now = await running('spread');
      if (now.length !== 6 || now.some((i) => i.dea_id === deaId)) return false;
      const seen = new Set<string>();
      for (let i = 0; i < 24 && seen.size < 6; i++) {
        const by = await answeredBy('spread');
        if (!by) return false;
        seen.add(by.instance_id);
      }
      return seen.size === 6;
    }, 60_000, 'every instance answering elsewhere');
    loss.push(performance.now() - started);
    console.log(`DEA kill -9 (${lost} instances lost) → all answering elsewhere: ${fmt(loss[run])} s`);
    platform.startService(name);
    await platform.waitForDeas(3);
    await new Promise((r) => setTimeout(r, 4000));
  }

  // Scale 1 → 20.
  await push('wide', 1);
  const widen: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    await scale('wide', 20);
    await eventually(async () => {
      if ((await running('wide')).length !== 20) return false;
      const seen = new Set<number>();
      for (let i = 0; i < 80 && seen.size < 20; i++) {
        const by = await answeredBy('wide');
        if (by) seen.add(by.instance_index);
      }
      return seen.size === 20;
    }, 120_000, '20 instances answering');
    widen.push(performance.now() - started);
    console.log(`scale 1 → 20 → all answering: ${fmt(widen[run])} s`);
    await scale('wide', 1);
    await eventually(async () => (await running('wide')).length === 1, 60_000, 'back to 1');
    await new Promise((r) => setTimeout(r, 1000));
  }

  const table = [
    '# bench/recovery',
    '',
    `${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. A whole nap with 3 DEAs on one machine; examples/hello-node. Median of ${RUNS} runs.`,
    '',
    '| from → to | median s | worst s | target s |',
    '|---|---|---|---|',
    `| container killed → replacement answering through the router | ${fmt(median(crash))} | ${fmt(Math.max(...crash))} | ≤ 2 |`,
    `| DEA kill -9 (with its containers) → all its instances answering elsewhere | ${fmt(median(loss))} | ${fmt(Math.max(...loss))} | ≤ 5 |`,
    `| scale 1 → 20 → all 20 answering | ${fmt(median(widen))} | ${fmt(Math.max(...widen))} | ≤ 10 |`,
    '',
  ].join('\n');
  await writeFile(join(repoRoot, 'bench/results/recovery.md'), table);
  console.log(`\n${table}`);
} finally {
  await platform.stop();
}
