import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'nats';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

interface AppShown {
  id: string;
  package_state: string;
  droplet: { detected_buildpack: string } | null;
  instance_details: unknown[];
}

describe('buildpacks end to end: python, a vendored wheel, a binary, a jar, and failures that leave nothing behind', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  const work = mkdtempSync(join(tmpdir(), 'nap-buildpacks-e2e-'));

  const shown = async (name: string) => JSON.parse((await nap(['app', name, '--json'], env)).stdout) as AppShown;

  async function pushAndGet(name: string, dir: string): Promise<{ body: string; stderr: string }> {
    const push = await nap(['push', name, '-p', dir], env);
    assert.equal(push.code, 0, `push of ${name} failed:\n${push.stdout}\n${push.stderr}\n${await platform.logTail('dea-1')}`);
    const res = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: `${name}.nap.localhost` });
      return r.status === 200 ? r : null;
    }, 15_000, `${name} to answer through the router`);
    return { body: res.body, stderr: push.stderr };
  }

  /** Blob names in the object store that belong to the app. */
  async function blobsOf(appId: string): Promise<string[]> {
    const nc = await connect({ servers: platform.engines.natsUrl, user: platform.engines.natsUser, pass: platform.engines.natsPassword });
    try {
      const os = await nc.jetstream().views.os('nap-blobs');
      return (await os.list()).filter((i) => !i.deleted && i.name.includes(appId)).map((i) => i.name);
    } finally {
      await nc.close();
    }
  }

  before(async () => {
    platform = await TestPlatform.start();
    env = platform.cliEnv();
  });

  after(async () => {
    await platform?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('a Python app on the standard library', async () => {
    const { body, stderr } = await pushAndGet('hello-python', `${repoRoot}examples/hello-python`);
    assert.match(body, /Hello from nap! \(hello-python instance 0\)/);
    assert.match(stderr, /python app detected/);
  });

  test('a Python app whose dependency is a wheel vendored in the app, installed without any index', async () => {
    const { body, stderr } = await pushAndGet('python-wheel', `${repoRoot}examples/python-wheel`);
    assert.match(body, /Hello from nap! \(napgreeting 1\.0\.0\) \(python-wheel instance 0\)/);
    assert.match(stderr, /vendor/);
  });

  test('a binary app: a Procfile and a program, nothing compiled', async () => {
    const { body } = await pushAndGet('hello-binary', `${repoRoot}examples/hello-binary`);
    assert.match(body, /Hello from nap! \(hello-binary\)/);
    assert.equal((await shown('hello-binary')).droplet?.detected_buildpack, 'binary');
  });

  test('a jar built with the machine’s javac runs on the jvm variant of the stack', async () => {
    const dir = join(work, 'hello-java');
    execFileSync('sh', [`${repoRoot}examples/hello-java/build.sh`, dir]);
    const { body } = await pushAndGet('hello-java', dir);
    assert.match(body, /Hello from nap! \(hello-java instance 0\)/);
    const [container] = await platform.containers({ 'nap.app_name': 'hello-java' });
    assert.match(container.Image, /nap\/stack:bookworm-jvm/);
  });

  test('a second staging of a Node.js app with dependencies reuses its cache, and says so', async () => {
    const dir = join(work, 'deps');
    cpSync(`${repoRoot}examples/hello-deps`, dir, { recursive: true });
    const first = await pushAndGet('cached-deps', dir);
    assert.match(first.stderr, /Installing dependencies/);
    appendFileSync(join(dir, 'README.md'), '\nchanged\n');
    const second = await pushAndGet('cached-deps', dir);
    assert.match(second.stderr, /Reusing node_modules from the cache/);
    assert.doesNotMatch(second.stderr, /Installing dependencies/);
    assert.equal(second.body, 'two days is 172800000 ms\n');
  });

  test('a buildpack whose compile fails: 422 with its last words, nothing running and no droplet stored', async () => {
    const dir = join(work, 'broken-python');
    cpSync(`${repoRoot}examples/hello-python`, dir, { recursive: true });
    // A requirement that is neither vendored nor reachable: pip fails, and says so.
    writeFileSync(join(dir, 'requirements.txt'), 'surely-not-vendored-package==9.9\n');
    const push = await nap(['push', 'broken-python', '-p', dir], { ...env });
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /buildpack python failed to compile the app \(exit \d+\)/);
    assert.match(push.stderr, /pip download -d vendor|PIP_INDEX_URL/);
    const app = await shown('broken-python');
    assert.equal(app.package_state, 'FAILED');
    assert.deepEqual(app.instance_details, []);
    assert.deepEqual(await platform.containers({ 'nap.app_name': 'broken-python' }), []);
    assert.deepEqual((await blobsOf(app.id)).filter((b) => b.startsWith('droplets/')), []);
  });

  test('an app no buildpack detects: 422 listing every buildpack tried', async () => {
    const dir = join(work, 'nothing');
    rmSync(dir, { recursive: true, force: true });
    cpSync(`${repoRoot}examples/hello-python`, dir, { recursive: true });
    rmSync(join(dir, 'app.py'));
    writeFileSync(join(dir, 'notes.txt'), 'nothing to run');
    const push = await nap(['push', 'nothing-here', '-p', dir], env);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /no buildpack detected this app; tried: nodejs, python, static, java, binary, dockerfile/);
    const app = await shown('nothing-here');
    assert.equal(app.package_state, 'FAILED');
    assert.deepEqual((await blobsOf(app.id)).filter((b) => b.startsWith('droplets/')), []);
  });
});
