// bench/push: seconds from `nap push` to the first 200 through the router for examples/hello-node,
// cold (first push), warm (changed bits, stack and caches warm) and unchanged (same bits again).
// Runs a whole nap on real engines (like the end-to-end tests) and writes bench/results/push.md.
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

const WARM_RUNS = 5;

async function firstOk(routerUrl: string, host: string, expect: string, deadline: number): Promise<number> {
  while (Date.now() < deadline) {
    const r = await httpGet(`${routerUrl}/`, { Host: host }).catch(() => null);
    if (r?.status === 200 && r.body.includes(expect)) return Date.now();
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`no 200 with ${JSON.stringify(expect)} through the router`);
}

/** One push: seconds until the router serves `expect`, and until the command itself returned. */
async function timedPush(platform: TestPlatform, dir: string, expect: string): Promise<{ toServe: number; command: number }> {
  const started = Date.now();
  const push = nap(['push', 'bench-app', '-p', dir], platform.cliEnv());
  const served = firstOk(platform.routerUrl, 'bench-app.nap.localhost', expect, started + 180_000);
  const [result, at] = await Promise.all([push, served]);
  if (result.code !== 0) throw new Error(`push failed: ${result.stderr}`);
  return { toServe: (at - started) / 1000, command: result.ms / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (s: number) => s.toFixed(2);

const platform = await TestPlatform.start();
const dir = await mkdtemp(join(tmpdir(), 'nap-bench-push-'));
try {
  await cp(join(repoRoot, 'examples/hello-node'), dir, { recursive: true });
  const greeting = (n: number) => `module.exports = 'Hello ${n}';\n`;
  await writeFile(join(dir, 'greeting.js'), greeting(0));
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'bench-app', version: '1.0.0', private: true, scripts: { start: 'node bench.js' } }),
  );
  await writeFile(
    join(dir, 'bench.js'),
    "require('http').createServer((q, s) => s.end(require('./greeting.js'))).listen(process.env.PORT);\n",
  );

  const cold = await timedPush(platform, dir, 'Hello 0');
  console.log(`cold push → first 200: ${fmt(cold.toServe)} s`);
  const warm: number[] = [];
  for (let i = 1; i <= WARM_RUNS; i++) {
    await writeFile(join(dir, 'greeting.js'), greeting(i));
    const t = await timedPush(platform, dir, `Hello ${i}`);
    warm.push(t.toServe);
    console.log(`warm push ${i} (changed bits) → first 200 with the new body: ${fmt(t.toServe)} s`);
  }
  const unchanged: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = await timedPush(platform, dir, `Hello ${WARM_RUNS}`);
    unchanged.push(t.command);
    console.log(`unchanged push → command done: ${fmt(t.command)} s`);
  }

  const table = [
    '# bench/push',
    '',
    `examples/hello-node-like app, one instance, ${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}.`,
    'Seconds from starting `nap push` to the first 200 through the router with the new body.',
    '',
    '| push | seconds | target |',
    '|---|---|---|',
    `| cold (first push, stack image present) | ${fmt(cold.toServe)} | |`,
    `| warm (changed bits), median of ${WARM_RUNS} | ${fmt(median(warm))} | ≤ 3 |`,
    `| warm, worst | ${fmt(Math.max(...warm))} | |`,
    `| unchanged bits (whole command), median of 3 | ${fmt(median(unchanged))} | < 1 |`,
    '',
  ].join('\n');
  await writeFile(join(repoRoot, 'bench/results/push.md'), table);
  console.log(`\n${table}`);
} finally {
  await rm(dir, { recursive: true, force: true });
  await platform.stop();
}
