// Runs every compiled test of every workspace with node's test runner, two files at a time: each
// end-to-end platform has its own engines, ports, subnet and label, and most of an e2e test's time
// is spent waiting on a container or a timer, so two lanes use the machine's two cores better
// (three were tried: each file then ran slower, and the whole took as long).
// End-to-end files go first, then integration, then unit files, which fill the lanes at the end.
// NAP_TEST_CONCURRENCY=1 runs one file at a time (to tell a race from a bug). `--unit` skips
// integration and e2e. `*.cluster.test.js` files (chaos on a local cluster of hosts, minutes
// each) run only with `--cluster` (npm run test:cluster), and then alone.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const unitOnly = process.argv.includes('--unit');
const clusterOnly = process.argv.includes('--cluster');
const workspaces = ['libs/common', 'libs/testkit', 'services/controller', 'services/dea', 'services/router', 'services/directory', 'cli', 'bench'];

function find(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) find(full, out);
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const files = workspaces
  .flatMap((w) => find(join(root, w, 'dist', 'test')))
  .filter((f) => /\.cluster\.test\.js$/.test(f) === clusterOnly)
  .filter((f) => !unitOnly || !/\.(e2e|integration)\.test\.js$/.test(f))
  .map((f) => relative(root, f))
  .sort((a, b) => weight(b) - weight(a) || a.localeCompare(b));

function weight(file) {
  if (/\.e2e\.test\.js$/.test(file)) return 2;
  return /\.integration\.test\.js$/.test(file) ? 1 : 0;
}
const concurrency = Number(process.env.NAP_TEST_CONCURRENCY) || 2;

if (files.length === 0) {
  console.error('no test files found: run npm run build first');
  process.exit(1);
}
// Node 20 applies --test-timeout to each file as a whole: a file that hangs is cut off after ten
// minutes (the longest takes about three) instead of holding the suite until CI's limit.
const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', '--test-reporter=spec', ...files], { cwd: root, stdio: 'inherit' });
child.on('close', (code) => process.exit(code ?? 1));
