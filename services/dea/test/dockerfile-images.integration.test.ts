import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '@nap/testkit';
import { createGunzip } from 'node:zlib';
import { buildDockerfile, DockerfileBuildError } from '../src/images/dockerfile-build.js';
import { engineError, readProgress } from '../src/images/engine-progress.js';
import { saveWithoutStackLayers } from '../src/images/image-strip.js';
import { DockerRuntime } from '../src/runtime/docker-runtime.js';

const stackImage = process.env.NAP_STACK_IMAGE ?? 'nap/stack:bookworm';

describe('Dockerfile images on a real Docker engine', () => {
  const installation = `test-${randomBytes(4).toString('hex')}`;
  const runtime = new DockerRuntime(process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock', installation);
  const dir = mkdtempSync(join(tmpdir(), 'nap-dockerfile-'));
  const lines: string[] = [];
  const build = (name: string, dockerfile: string, timeoutMs = 60_000) => {
    const context = join(dir, name);
    rmSync(context, { recursive: true, force: true });
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
    writeFileSync(join(context, 'hello.txt'), `hello from ${name}\n`);
    return buildDockerfile(
      runtime,
      { contextDir: context, tag: `nap/droplet:${installation}-${name}`, labels: { 'nap.kind': 'droplet-image', 'nap.app_id': name }, memoryMb: 256, timeoutMs, say: (l) => lines.push(l) },
      stackImage,
    );
  };

  before(async () => runtime.ping());
  after(async () => {
    for (const image of await runtime.listImages({})) await runtime.removeImage(image.Id, true);
    rmSync(dir, { recursive: true, force: true });
  });

  test('an image built FROM the stack, saved without the stack layers and loaded again, is the same image', async () => {
    const { id: imageId, isNew } = await build('strip', `FROM ${stackImage}\nCOPY hello.txt /home/vcap/app/hello.txt\nRUN echo built > /tmp/built\nCMD ["cat", "/home/vcap/app/hello.txt"]\n`);
    assert.ok(isNew);
    assert.ok(lines.some((l) => /^ {7}STEP 2\/\d+: COPY hello.txt/.test(l)), lines.join('\n'));
    const droplet = join(dir, 'strip.tgz');
    const { strippedLayers } = await saveWithoutStackLayers(runtime, imageId, stackImage, dir, droplet);
    const stackLayers = (await runtime.inspectImage(stackImage))!.RootFS.Layers!.length;
    assert.equal(strippedLayers, stackLayers);
    assert.ok(statSync(droplet).size < 100_000, `the droplet holds only the app's layers (${statSync(droplet).size} bytes)`);

    assert.ok(await runtime.removeImage(imageId, true));
    assert.equal(await runtime.inspectImage(imageId), null);
    let error: string | null = null;
    await readProgress(await runtime.loadImage(createReadStream(droplet).pipe(createGunzip())), (m) => {
      error = engineError(m) ?? error;
    });
    assert.equal(error, null);
    const loaded = await runtime.inspectImage(imageId);
    assert.equal(loaded?.Id, imageId);
    assert.deepEqual(loaded?.Config.Cmd, ['cat', '/home/vcap/app/hello.txt']);
    assert.equal(loaded?.Config.Labels?.['nap.installation'], installation);
  });

  test('a Dockerfile that fails says why, and leaves no image behind', async () => {
    lines.length = 0;
    await assert.rejects(build('fails', `FROM ${stackImage}\nRUN echo one step made > /tmp/one\nRUN exit 3\n`), (err: Error) => {
      assert.ok(err instanceof DockerfileBuildError);
      assert.match(err.message, /the Dockerfile build failed: .*RUN exit 3.*exit status 3/);
      assert.match(err.message, /STEP 3\/\d+: RUN exit 3/);
      return true;
    });
    assert.deepEqual((await runtime.listImages({ 'nap.app_id': 'fails' })).map((i) => i.Id), []);
    assert.equal(await runtime.inspectImage(`nap/droplet:${installation}-fails`), null);
    assert.ok(await runtime.imageExists(stackImage), 'the FROM image is never removed');
  });

  test('a FROM image that is not on the node fails at once with what to do', async () => {
    await assert.rejects(build('absent', 'FROM nap-test/absent-image:1\nRUN true\n'), /FROM nap-test\/absent-image:1 is not on this node and nap does not pull from registries: base the Dockerfile on nap\/stack:bookworm/);
  });

  test('a build past the staging timeout is stopped, and its RUN step does not go on', async () => {
    // A duration no other test runs: its process is this build's RUN step and nothing else.
    const sleep = `sleep 600.${randomBytes(3).readUIntBE(0, 3)}`;
    const started = Date.now();
    await assert.rejects(build('slow', `FROM ${stackImage}\nRUN ${sleep}\n`, 2_000), /the Dockerfile build took longer than 2 s and was stopped/);
    assert.ok(Date.now() - started < 15_000);
    const running = await eventually(async () => {
      const left: string[] = [];
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        const cmdline = (() => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
          } catch {
            return '';
          }
        })();
        if (cmdline === sleep) left.push(pid);
      }
      return left.length === 0 ? left : null;
    }, 15_000, 'the RUN step to be killed');
    assert.deepEqual(running, []);
  });
});

