import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packArchive } from '@nap/common';
import { connect } from 'nats';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

const buildpackDir = `${repoRoot}examples/custom-buildpack`;
const appDir = `${repoRoot}examples/custom-buildpack-app`;


/** The built-in buildpacks in detection order, then dockerfile, which the DEA detects itself. */
const BUILTINS = ['nodejs', 'python', 'static', 'java', 'binary', 'dockerfile'];
describe('custom buildpacks and the build cache, end to end', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  let work: string;
  let gitUrl: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'nap-custom-bp-'));
    // The DEA clones as an unprivileged user: an admin's file:// repository must be readable by it.
    chmodSync(work, 0o755);
    // A git repository holding the example buildpack, served as file:// (only admins may name those).
    const tree = join(work, 'tree');
    cpSync(buildpackDir, tree, { recursive: true });
    const git = (args: string[], cwd: string) => execFileSync('git', ['-c', 'user.name=nap', '-c', 'user.email=nap@example.com', ...args], { cwd, stdio: 'pipe' });
    git(['init', '--quiet', '-b', 'main'], tree);
    git(['add', '.'], tree);
    git(['commit', '--quiet', '-m', 'a custom buildpack'], tree);
    git(['clone', '--quiet', '--bare', tree, join(work, 'repo.git')], work);
    gitUrl = `file://${join(work, 'repo.git')}`;
    platform = await TestPlatform.start();
    env = platform.cliEnv();
  });

  after(async () => {
    await platform?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function reach(name: string, path: string): Promise<string> {
    const res = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}${path}`, { Host: `${name}.nap.localhost` });
      return r.status === 200 ? r : null;
    }, 20_000, `${name} to answer through the router`);
    return res.body;
  }

  async function dump(name: string): Promise<string> {
    return `${await platform.logTail('dea-1')}\n${(await nap(['logs', name, '--staging'], env)).stdout}`;
  }

  test('push with -b a git URL: the DEA clones the buildpack and runs it', async () => {
    const push = await nap(['push', 'bp-git', '-p', appDir, '-b', `${gitUrl}#main`], env);
    assert.equal(push.code, 0, `push failed:\n${push.stdout}\n${push.stderr}\n${await dump('bp-git')}`);
    assert.match(push.stderr, /Cloning buildpack file:\/\/\S+repo\.git \(main\)/);
    assert.match(push.stderr, /custom buildpack compiling/);
    const body = await reach('bp-git', '/compiled.txt');
    assert.match(body, /compiled by the custom buildpack \(run 1\)/);
    assert.match(body, /Hello from an app staged by a custom buildpack/);
    const app = JSON.parse((await nap(['app', 'bp-git', '--json'], env)).stdout) as { droplet: { detected_buildpack: string } };
    assert.equal(app.droplet.detected_buildpack, `${gitUrl}#main`);
  });

  test('a git URL that does not exist fails the push (422) with a clear message', async () => {
    const push = await nap(['push', 'bp-nogit', '-p', appDir, '-b', `file://${join(work, 'missing.git')}`], env);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /staging bp-nogit failed: could not clone the buildpack file:\/\/\S+missing\.git/);
    const app = JSON.parse((await nap(['app', 'bp-nogit', '--json'], env)).stdout) as { package_state: string };
    assert.equal(app.package_state, 'FAILED');
  });

  test('a git repository without bin/compile is refused with what a buildpack needs', async () => {
    const tree = join(work, 'half');
    mkdirSync(join(tree, 'bin'), { recursive: true });
    writeFileSync(join(tree, 'bin', 'detect'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    execFileSync('git', ['-c', 'user.name=nap', '-c', 'user.email=nap@example.com', 'init', '--quiet', '-b', 'main'], { cwd: tree });
    execFileSync('git', ['add', '.'], { cwd: tree });
    execFileSync('git', ['-c', 'user.name=nap', '-c', 'user.email=nap@example.com', 'commit', '--quiet', '-m', 'half'], { cwd: tree });
    const push = await nap(['push', 'bp-half', '-p', appDir, '-b', `file://${tree}`], env);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /has no bin\/compile: a buildpack needs bin\/detect, bin\/compile and bin\/release/);
  });

  test('admin buildpacks: create from a folder, push with -b NAME and by detection after the built-in ones', async () => {
    const made = await nap(['create-buildpack', 'mybp', buildpackDir], env);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stderr, /Uploading buildpack mybp/);
    const list = JSON.parse((await nap(['buildpacks', '--json'], env)).stdout) as { name: string; kind: string; hash: string | null }[];
    assert.deepEqual(list.map((b) => `${b.name}:${b.kind}`), [...BUILTINS.map((b) => `${b}:builtin`), 'mybp:archive']);
    assert.match(list[BUILTINS.length].hash ?? '', /^[0-9a-f]{64}$/);
    const table = await nap(['buildpacks'], env);
    assert.match(table.stdout, /mybp\s+archive/);

    const named = await nap(['push', 'bp-named', '-p', appDir, '-b', 'mybp'], env);
    assert.equal(named.code, 0, `push failed:\n${named.stderr}\n${await dump('bp-named')}`);
    assert.match(await reach('bp-named', '/compiled.txt'), /compiled by the custom buildpack/);

    const auto = await nap(['push', 'bp-auto', '-p', appDir], env);
    assert.equal(auto.code, 0, `push failed:\n${auto.stderr}\n${await dump('bp-auto')}`);
    assert.match(auto.stderr, /custom app detected \(buildpack mybp\)/);
    assert.match(await reach('bp-auto', '/compiled.txt'), /compiled by the custom buildpack/);
    const app = JSON.parse((await nap(['app', 'bp-auto', '--json'], env)).stdout) as { droplet: { detected_buildpack: string } };
    assert.equal(app.droplet.detected_buildpack, 'mybp');

    // An app nothing detects names every buildpack tried, the admin ones too.
    const nothing = join(work, 'nothing');
    mkdirSync(nothing);
    writeFileSync(join(nothing, 'readme.md'), 'nothing to detect\n');
    const none = await nap(['push', 'bp-none', '-p', nothing], env);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no buildpack detected this app; tried: nodejs, python, static, java, binary, mybp, dockerfile/);
  });

  test('an unknown -b NAME is refused at push time, naming the choices', async () => {
    const push = await nap(['push', 'bp-unknown', '-p', appDir, '-b', 'nope'], env);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /unknown buildpack "nope": choose one of built-in: nodejs, python, static, java, binary, dockerfile; admin: mybp/);
    const bad = await httpGet(`${platform.controllerUrl}/v1/apps/bp-unknown2`, { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' }, 'PUT', JSON.stringify({ buildpack: 'ftp://host/bp.git' }));
    assert.equal(bad.status, 400);
    assert.match(bad.body, /not a git URL/);
  });

  test('only admins create buildpacks; a bad archive is 400 and stores nothing', async () => {
    const user = JSON.parse((await nap(['users', 'create', 'dev', '--json'], env)).stdout) as { token: string };
    const devEnv = { ...env, NAP_TOKEN: user.token };
    const denied = await nap(['create-buildpack', 'devbp', buildpackDir], devEnv);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /only an admin may upload buildpacks/);
    const post = await httpGet(`${platform.controllerUrl}/v1/buildpacks`, { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json' }, 'POST', JSON.stringify({ name: 'devbp', url: 'https://example.com/bp.git' }));
    assert.equal(post.status, 403);
    // Developers may list them, and may not name a local repository.
    assert.equal((await nap(['buildpacks'], devEnv)).code, 0);
    const local = await nap(['push', 'dev-local', '-p', appDir, '-b', gitUrl], devEnv);
    assert.notEqual(local.code, 0);
    assert.match(local.stderr, /cannot be a developer's buildpack: only https:\/\/ and http:\/\/ URLs are for everyone/);
    for (const url of ['git://127.0.0.1/bp.git', 'ssh://git@127.0.0.1/bp.git', 'git@127.0.0.1:bp.git']) {
      const res = await httpGet(`${platform.controllerUrl}/v1/apps/dev-remote`, { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json' }, 'PUT', JSON.stringify({ buildpack: url }));
      assert.equal(res.status, 400, `${url}: ${res.body}`);
      assert.match(res.body, /for admins/);
    }

    const half = join(work, 'bad-bp');
    mkdirSync(join(half, 'bin'), { recursive: true });
    writeFileSync(join(half, 'bin', 'detect'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    writeFileSync(join(half, 'bin', 'release'), '#!/bin/sh\n', { mode: 0o755 });
    const tgz = join(work, 'bad-bp.tgz');
    await packArchive(half, tgz, ['bin']);
    const put = await httpGet(`${platform.controllerUrl}/v1/buildpacks/badbp/bits`, { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/gzip' }, 'PUT', readFileSync(tgz));
    assert.equal(put.status, 400, put.body);
    assert.match(put.body, /no bin\/compile/);
    const viaCli = await nap(['create-buildpack', 'badbp', half], env);
    assert.notEqual(viaCli.code, 0);
    assert.match(viaCli.stderr, /no bin\/compile: a buildpack needs bin\/detect, bin\/compile and bin\/release/);
    const list = JSON.parse((await nap(['buildpacks', '--json'], env)).stdout) as { name: string }[];
    assert.ok(!list.some((b) => b.name === 'badbp'), 'the bad archive is not listed');
    assert.equal((await nap(['create-buildpack', 'nodejs', buildpackDir], env)).code, 1, 'a built-in name is taken');
  });

  test('an admin buildpack from a git URL is cloned for each staging that names it', async () => {
    const made = await nap(['create-buildpack', 'gitbp', `${gitUrl}#main`], env);
    assert.equal(made.code, 0, made.stderr);
    const listed = (JSON.parse((await nap(['buildpacks', '--json'], env)).stdout) as { name: string; kind: string; url: string; ref: string }[]).find((b) => b.name === 'gitbp');
    assert.deepEqual(listed && { kind: listed.kind, url: listed.url, ref: listed.ref }, { kind: 'git', url: gitUrl, ref: 'main' });
    assert.equal((await nap(['create-buildpack', 'gitbp', `${gitUrl}#main`], env)).code, 1, 'the name is taken');
    const push = await nap(['push', 'bp-gitadmin', '-p', appDir, '-b', 'gitbp'], env);
    assert.equal(push.code, 0, `push failed:\n${push.stderr}\n${await dump('bp-gitadmin')}`);
    assert.match(push.stderr, /Cloning buildpack file:\/\/\S+repo\.git \(main\)/);
    assert.match(await reach('bp-gitadmin', '/compiled.txt'), /compiled by the custom buildpack/);
    assert.equal((await nap(['delete-buildpack', 'gitbp'], env)).code, 0);
    assert.equal((await nap(['delete-buildpack', 'gitbp'], env)).code, 1, 'gone already');
  });

  test('deleting an admin buildpack removes it and its archive', async () => {
    const nc = await connect({ servers: platform.engines.natsUrl, user: platform.engines.natsUser, pass: platform.engines.natsPassword });
    const os = await nc.jetstream().views.os('nap-blobs');
    const names = async () => (await os.list()).filter((i) => !i.deleted).map((i) => i.name);
    assert.ok((await names()).some((n) => n.startsWith('buildpacks/mybp/')));
    const del = await nap(['delete-buildpack', 'mybp'], env);
    assert.equal(del.code, 0, del.stderr);
    assert.ok(!(await names()).some((n) => n.startsWith('buildpacks/mybp/')));
    await nc.close();
    const list = JSON.parse((await nap(['buildpacks', '--json'], env)).stdout) as { name: string }[];
    assert.deepEqual(list.map((b) => b.name), BUILTINS);
  });

  test('the build cache goes to the blobstore and comes back on a node without it', async () => {
    const dir = join(work, 'cache-app');
    cpSync(`${repoRoot}examples/hello-deps`, dir, { recursive: true });
    const first = await nap(['push', 'cache-app', '-p', dir], env);
    assert.equal(first.code, 0, `push failed:\n${first.stderr}\n${await dump('cache-app')}`);
    const log1 = `${first.stderr}\n${(await nap(['logs', 'cache-app', '--staging'], env)).stdout}`;
    assert.match(log1, /No build cache yet/);
    assert.match(log1, /Saving build cache \(\d+\.\d MB\)/);

    const app = JSON.parse((await nap(['app', 'cache-app', '--json'], env)).stdout) as { id: string };
    const nc = await connect({ servers: platform.engines.natsUrl, user: platform.engines.natsUser, pass: platform.engines.natsPassword });
    const os = await nc.jetstream().views.os('nap-blobs');
    const cacheKey = `caches/${app.id}.tgz`;
    const exists = async (key: string) => {
      const info = await os.info(key);
      return Boolean(info && !info.deleted);
    };
    assert.ok(await exists(cacheKey), 'the cache blob exists');

    // As if the next staging ran on another node: this node's copy is gone.
    const caches = join(platform.home, 'dea-1', 'caches');
    rmSync(join(caches, app.id), { recursive: true, force: true });
    rmSync(join(caches, `${app.id}.stamp`), { force: true });
    appendFileSync(join(dir, 'server.js'), '\n// changed, so the next push stages again\n');
    const second = await nap(['push', 'cache-app', '-p', dir], env);
    assert.equal(second.code, 0, `push failed:\n${second.stderr}\n${await dump('cache-app')}`);
    const log2 = `${second.stderr}\n${(await nap(['logs', 'cache-app', '--staging'], env)).stdout}`;
    assert.match(log2, /Restoring build cache \(\d+\.\d MB\)/);
    assert.match(log2, /Build cache unchanged|Saving build cache/);
    assert.match(readFileSync(join(caches, `${app.id}.stamp`), 'utf8'), /digest/);

    // A third staging on the same node finds its copy in place.
    appendFileSync(join(dir, 'server.js'), '// and again\n');
    const third = await nap(['push', 'cache-app', '-p', dir], env);
    assert.equal(third.code, 0, third.stderr);
    assert.match(`${third.stderr}\n${(await nap(['logs', 'cache-app', '--staging'], env)).stdout}`, /Build cache is on this node/);

    assert.equal((await nap(['delete', 'cache-app', '-f'], env)).code, 0);
    assert.equal(await exists(cacheKey), false, 'deleting the app deletes its build cache');
    await nc.close();
  });
});
