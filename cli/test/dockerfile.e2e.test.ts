import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

interface ShownApp {
  id: string;
  package_state: string;
  staging: { error: string | null } | null;
  droplet: { hash: string; detected_buildpack: string; start_command: string } | null;
}

describe('Dockerfile apps, end to end on two DEA nodes', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  const docker = new Docker({ socketPath: process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock' });
  const host = 'hello-docker.nap.localhost';
  const dirs: string[] = [];
  const fixtures = `${repoRoot}services/dea/test/fixtures`;
  const variant = `test-${randomBytes(3).toString('hex')}`;

  const show = async (name: string) => {
    const r = await nap(['app', name, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ShownApp;
  };
  const appImages = (appId: string, all = true) => docker.listImages({ all, filters: { label: [`nap.installation=${platform.installationId}`, `nap.app_id=${appId}`] } });
  const dockerfileApp = (dockerfile: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'nap-dockerfile-app-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  };

  before(async () => {
    // Buildpack variant-echo releases the stack variant its app names; the variant "build" tags the stack.
    platform = await TestPlatform.start({
      deas: 2,
      env: { NAP_BUILDPACKS_DIR: `${fixtures}/buildpacks`, NAP_STACK_VARIANT_SCRIPT: `${fixtures}/stack-variant-by-tag` },
    });
    env = platform.cliEnv();
  });

  after(async () => {
    await platform?.stop();
    // Images are not containers: TestPlatform leaves them, so this run's go here.
    if (platform) {
      const own = await docker.listImages({ filters: { label: [`nap.installation=${platform.installationId}`] } });
      for (const image of own) await docker.getImage(image.Id).remove({ force: true }).catch(() => {});
    }
    // Only an extra tag goes: if it were the stack's last one, removing it would delete the stack.
    const tagged = await docker.getImage(`nap/stack:bookworm-${variant}`).inspect().catch(() => null);
    if (tagged && tagged.RepoTags.length > 1) await docker.getImage(`nap/stack:bookworm-${variant}`).remove().catch(() => {});
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('push examples/hello-docker: built with buildah, reached through the router, on both nodes after a scale', async () => {
    const push = await nap(['push', 'hello-docker', '-p', `${repoRoot}examples/hello-docker`], env);
    assert.equal(push.code, 0, `push failed:\n${push.stdout}\n${push.stderr}\n${await platform.logTail('dea-1')}\n${await platform.logTail('dea-2')}`);
    assert.match(push.stderr, /-----> Building the Dockerfile/);
    assert.match(push.stderr, /^ {7}STEP 2\/\d+: COPY server\.js \/home\/vcap\/app\/server\.js$/m, 'the build output is in the staging log, indented');
    const first = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: host });
      return r.status === 200 ? r : null;
    }, 15_000, 'the app to answer through the router');
    assert.equal(first.body, 'Hello from nap! (hello-docker instance 0)\n');

    const app = await show('hello-docker');
    assert.equal(app.droplet?.detected_buildpack, 'dockerfile');
    assert.equal(app.droplet?.start_command, 'node server.js');
    const hash = app.droplet!.hash;
    const stagedOn = platform.deaNames.filter((n) => existsSync(join(platform.home, n, 'droplets', `${hash}.tgz`)));
    assert.equal(stagedOn.length, 1, `the droplet is on the staging node only: ${stagedOn}`);
    const other = platform.deaNames.find((n) => n !== stagedOn[0])!;

    // The instance runs the image itself, as its USER and in its WORKDIR, with no app dir mounted.
    const [c0] = await platform.containers({ 'nap.app_id': app.id, 'nap.kind': 'instance' });
    const inspected = await docker.getContainer(c0.Id).inspect();
    const images = await appImages(app.id, false);
    assert.equal(images.length, 1, 'one (top-level) image with the app label');
    const imageId = images[0].Id;
    assert.equal(inspected.Image, imageId);
    // The image's USER (vcap), resolved to numbers through its /etc/passwd: never root.
    assert.equal(inspected.Config.User, '2000:2000');
    assert.equal(inspected.Config.WorkingDir, '/home/vcap/app');
    assert.deepEqual(inspected.Config.Cmd, ['/bin/sh', '-c', 'node server.js']);
    assert.deepEqual(inspected.HostConfig.Binds ?? [], []);
    assert.equal(inspected.Config.Labels['nap.droplet_type'], 'image');
    const whoami = JSON.parse((await httpGet(`${platform.routerUrl}/whoami`, { Host: host })).body) as { user: string; cwd: string };
    assert.deepEqual({ user: whoami.user, cwd: whoami.cwd }, { user: 'vcap', cwd: '/home/vcap/app' });

    // Both nodes share this machine's engine: without the image there, whichever node runs an
    // instance must get the droplet from the blobstore and load it.
    assert.equal((await nap(['stop', 'hello-docker'], env)).code, 0);
    await eventually(async () => (await platform.containers({ 'nap.app_id': app.id, 'nap.kind': 'instance' })).length === 0, 30_000, 'the instance to go');
    await docker.getImage(imageId).remove({ force: true });
    assert.equal((await nap(['scale', 'hello-docker', '-i', '2'], env)).code, 0);
    const start = await nap(['start', 'hello-docker'], env);
    assert.equal(start.code, 0, start.stderr);

    const seen = await eventually(async () => {
      const answers = new Set<string>();
      for (let i = 0; i < 8; i++) {
        const r = await httpGet(`${platform.routerUrl}/`, { Host: host });
        if (r.status === 200) answers.add(r.body);
      }
      return answers.size === 2 ? answers : null;
    }, 30_000, 'both instances to answer');
    assert.deepEqual([...seen].sort(), ['Hello from nap! (hello-docker instance 0)\n', 'Hello from nap! (hello-docker instance 1)\n']);

    const running = await platform.containers({ 'nap.app_id': app.id, 'nap.kind': 'instance' });
    assert.equal(running.length, 2);
    const deaIds = new Set(running.map((c) => c.Labels['nap.dea']));
    assert.equal(deaIds.size, 2, 'one instance on each node');
    assert.ok(existsSync(join(platform.home, other, 'droplets', `${hash}.tgz`)), `${other}, which did not stage the app, fetched the droplet from the blobstore`);
    assert.ok(running.every((c) => c.ImageID === imageId), 'the loaded image is the staged one, by id');
  });

  test('a restarted DEA adopts its Dockerfile instance without restarting it', async () => {
    const app = await show('hello-docker');
    const deaId = `dea-2-${platform.installationId}`;
    const before = await platform.containers({ 'nap.app_id': app.id, 'nap.dea': deaId, 'nap.kind': 'instance' });
    assert.equal(before.length, 1);
    await platform.stopService('dea-2', { kill: true });
    platform.startService('dea-2');
    const readies = async () => ((await platform.logTail('dea-2', 100_000)).match(/DEA ready/g) ?? []).length;
    await eventually(async () => (await readies()) === 2, 20_000, 'dea-2 to be back (and done adopting)');
    assert.match(await platform.logTail('dea-2', 100_000), /adopted running instances/);
    await new Promise((r) => setTimeout(r, 3000)); // past the dead process's lease
    const after = await platform.containers({ 'nap.app_id': app.id, 'nap.dea': deaId, 'nap.kind': 'instance' });
    assert.deepEqual(after.map((c) => [c.Id, c.State]), [[before[0].Id, 'running']]);
    const answers = new Set<string>();
    for (let i = 0; i < 8; i++) answers.add((await httpGet(`${platform.routerUrl}/`, { Host: host })).body);
    assert.equal(answers.size, 2, [...answers].join(''));
  });

  test('a Dockerfile that does not build fails the push with the reason, and leaves no image or container', async () => {
    const dir = dockerfileApp('FROM nap/stack:bookworm\nRUN echo a step that passes\nRUN exit 3\n');
    const push = await nap(['push', 'bad-docker', '-p', dir], env);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /the Dockerfile build failed: building at STEP "RUN exit 3": while running runtime: exit status 3/);

    const app = await show('bad-docker');
    assert.equal(app.package_state, 'FAILED');
    // A start stages again (the build fails again) before it answers: as long as a push may take.
    const api = await httpGet(`${platform.controllerUrl}/v1/apps/bad-docker/start`, { Authorization: `Bearer ${platform.adminToken}` }, 'POST', undefined, 180_000);
    assert.equal(api.status, 422, api.body);
    // JSON: the quotes come escaped.
    assert.match(api.body, /the Dockerfile build failed: building at STEP \\"RUN exit 3\\": while running runtime: exit status 3/);
    assert.deepEqual(await appImages(app.id), []);
    assert.deepEqual((await platform.containers({ 'nap.app_id': app.id })).filter((c) => c.State === 'running'), []);
  });

  test('a Dockerfile FROM an image that is not on the node says so', async () => {
    const dir = dockerfileApp('FROM nap-test/not-here:1\nCMD ["true"]\n');
    const push = await nap(['push', 'absent-docker', '-p', dir], env);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /FROM nap-test\/not-here:1 is not on this node and nap does not pull from registries: base the Dockerfile on nap\/stack:bookworm or an image loaded on every node/);
  });

  test('a droplet whose buildpack names a stack variant runs on that variant, built on the node when missing', async () => {
    const dir = dockerfileApp('');
    rmSync(join(dir, 'Dockerfile'));
    writeFileSync(join(dir, 'variant.txt'), variant);
    writeFileSync(join(dir, 'server.js'), `require('http').createServer((q, r) => r.end('variant ok')).listen(Number(process.env.PORT));\n`);
    const push = await nap(['push', 'variant-app', '-p', dir], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}\n${await platform.logTail('dea-1')}`);
    const res = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: 'variant-app.nap.localhost' });
      return r.status === 200 ? r : null;
    }, 15_000, 'the app to answer');
    assert.equal(res.body, 'variant ok');
    const app = await show('variant-app');
    const [c] = await platform.containers({ 'nap.app_id': app.id, 'nap.kind': 'instance' });
    assert.equal((await docker.getContainer(c.Id).inspect()).Config.Image, `nap/stack:bookworm-${variant}`);
  });
});
