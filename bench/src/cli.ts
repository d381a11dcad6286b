// bench/cli: how long `nap --help` and `nap push --help` take to start and exit, as the CLI is, and
// as it was when every command imported the whole @nap/common (etcd3, grpc and nats with it),
// which is preloaded here to show that cost. Median of RUNS. Writes bench/results/cli.md.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { modulesLoadedBy, repoRoot } from '@nap/testkit';

const RUNS = 15;
const run = promisify(execFile);

async function medianMs(args: string[], preload?: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await run(process.execPath, [...(preload ? ['--import', preload] : []), `${repoRoot}cli/bin/nap.js`, ...args], { cwd: repoRoot });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(RUNS / 2)];
}

const rows: string[] = [];
for (const args of [['--help'], ['push', '--help']]) {
  const now = await medianMs(args);
  const before = await medianMs(args, '@nap/common');
  const loaded = await modulesLoadedBy(args);
  const engines = ['etcd3', 'nats'].filter((p) => loaded.packages.has(p));
  const line = `nap ${args.join(' ')}: ${now.toFixed(0)} ms (with the whole @nap/common: ${before.toFixed(0)} ms); ${loaded.modules.length} modules, packages ${[...loaded.packages].sort().join(', ')}`;
  console.log(line);
  rows.push(`| \`nap ${args.join(' ')}\` | ${now.toFixed(0)} ms | ${before.toFixed(0)} ms | ${loaded.modules.length} | ${engines.length ? engines.join(', ') : 'neither'} |`);
}
const table = [
  '# CLI start-up',
  '',
  `Median of ${RUNS} runs of the real binary (node ${process.version}), from start to exit. "Before" preloads the whole \`@nap/common\`, as every command did when it imported the barrel: etcd3, grpc and nats with it. Only \`nap up\`, \`down\` and \`status\` load the engine clients now (cli/test/startup.test.ts keeps it so).`,
  '',
  '| command | now | before (whole @nap/common) | modules imported | etcd3 / nats loaded |',
  '|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
await writeFile(join(repoRoot, 'bench/results/cli.md'), table);
