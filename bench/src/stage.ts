// bench/stage: seconds of staging per buildpack, cold (the app's first staging: no build cache) and
// with the cache (the same app staged again after a one-file change). Staging time is what the
// controller records: from the staging request to the droplet in the blobstore. Runs a whole nap on
// real engines and writes bench/results/stage.md.
import { execFile } from 'node:child_process';
import { access, appendFile, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nap, repoRoot, TestPlatform } from '@nap/testkit';

const run = promisify(execFile);

interface Subject {
  example: string;
  buildpack: string;
  /** Turns the example into something pushable in `dir` (e.g. building a jar). */
  prepare?: (dir: string) => Promise<void>;
}

const subjects: Subject[] = [
  // First, on a node whose runtimes folder is empty: the cold staging downloads Node.js and npm.
  { example: 'hello-node', buildpack: 'nodejs, Node.js and npm downloaded (none on the node yet)' },
  { example: 'hello-node', buildpack: 'nodejs (no dependencies)' },
  { example: 'hello-deps', buildpack: 'nodejs (npm dependencies)' },
  { example: 'hello-static', buildpack: 'static' },
  { example: 'hello-python', buildpack: 'python (stdlib)' },
  { example: 'python-wheel', buildpack: 'python (vendored wheel)' },
  { example: 'hello-binary', buildpack: 'binary' },
  {
    example: 'hello-java',
    buildpack: 'java (executable jar)',
    prepare: async (dir) => {
      await run('bash', [join(dir, 'build.sh'), dir]);
      await rm(join(dir, 'src'), { recursive: true, force: true });
    },
  },
  { example: 'hello-docker', buildpack: 'Dockerfile' },
];

interface Shown {
  staging: { started_at: string } | null;
  droplet: { staged_at: string; detected_buildpack: string } | null;
}

async function stagingSeconds(platform: TestPlatform, name: string, dir: string): Promise<number> {
  const push = await nap(['push', name, '-p', dir], platform.cliEnv());
  if (push.code !== 0) throw new Error(`push of ${name} failed:\n${push.stderr}`);
  const app = JSON.parse((await nap(['app', name, '--json'], platform.cliEnv())).stdout) as Shown;
  if (!app.staging || !app.droplet) throw new Error(`${name} shows no staging`);
  return (Date.parse(app.droplet.staged_at) - Date.parse(app.staging.started_at)) / 1000;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

const fmt = (s: number) => s.toFixed(2);
const runtimesDir = await mkdtemp(join(tmpdir(), 'nap-bench-runtimes-'));
const platform = await TestPlatform.start({ env: { NAP_RUNTIMES_DIR: runtimesDir } });
const rows: string[] = [];
try {
  for (const [n, subject] of subjects.entries()) {
    const source = join(repoRoot, 'examples', subject.example);
    if (!(await exists(source))) {
      console.log(`${subject.example}: not in examples/, skipped`);
      continue;
    }
    const dir = await mkdtemp(join(tmpdir(), 'nap-bench-stage-'));
    try {
      await cp(source, dir, { recursive: true });
      await subject.prepare?.(dir);
      const name = `stage-${n}`;
      const cold = await stagingSeconds(platform, name, dir);
      await appendFile(join(dir, 'bench-change.txt'), `${Date.now()}\n`);
      const cached = await stagingSeconds(platform, name, dir);
      console.log(`${subject.buildpack}: cold ${fmt(cold)} s, with cache ${fmt(cached)} s`);
      rows.push(`| ${subject.buildpack} | examples/${subject.example} | ${fmt(cold)} | ${fmt(cached)} |`);
      await nap(['delete', name, '-f'], platform.cliEnv());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const table = [
    '# bench/stage',
    '',
    `${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. Seconds from the staging request to the droplet in the`,
    "blobstore, as the controller records them. Cold: the app's first staging. With cache: the same app",
    'staged again after a one-file change, with its build cache. The stack and its jvm variant were',
    'already on the node (building the jvm variant first takes about 30 s, once per node). Node.js',
    "apps run on the registry's Node.js (the current LTS for these): the first row starts with no",
    'runtime on the node; the others find it there.',
    '',
    '| buildpack | app | cold (s) | with cache (s) |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  await writeFile(join(repoRoot, 'bench/results/stage.md'), table);
  console.log(`\n${table}`);
} finally {
  await platform.stop();
  await rm(runtimesDir, { recursive: true, force: true });
}
