import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { msg } from '@nap/common';
import { releaseVariant, StackVariants, stagingVariant } from '../src/images/stack-variants.js';
import { DockerRuntime } from '../src/runtime/docker-runtime.js';

const stackImage = process.env.NAP_STACK_IMAGE ?? 'nap/stack:bookworm';
const script = new URL('../../test/fixtures/stack-variant-by-tag', import.meta.url).pathname;

describe('stack variants on a DEA', () => {
  const runtime = new DockerRuntime(process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock', `test-${randomBytes(4).toString('hex')}`);
  const dir = mkdtempSync(join(tmpdir(), 'nap-variants-'));
  const runs = join(dir, 'runs');
  const made: string[] = [];
  process.env.NAP_TEST_VARIANT_RUNS = runs;

  after(async () => {
    delete process.env.NAP_TEST_VARIANT_RUNS;
    // Only an extra tag goes: if it were the stack's last one, removing it would delete the stack.
    for (const tag of made) {
      const info = await runtime.inspectImage(tag);
      if (info && (info.RepoTags ?? []).length > 1) await runtime.removeImage(tag);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('a missing variant is built once, however many ask at the same time, and its output is shown', async () => {
    const variants = new StackVariants(runtime, stackImage, script);
    const name = `test-${randomBytes(3).toString('hex')}`;
    made.push(`${stackImage}-${name}`);
    assert.equal(await variants.ensure(undefined), stackImage);
    const lines: string[] = [];
    const images = await Promise.all([variants.ensure(name, (l) => lines.push(l)), variants.ensure(name), variants.ensure(name)]);
    assert.deepEqual(images, Array(3).fill(`${stackImage}-${name}`));
    assert.ok(await runtime.imageExists(`${stackImage}-${name}`));
    assert.deepEqual(readFileSync(runs, 'utf8').trim().split('\n'), [name]);
    assert.ok(lines.some((l) => l.startsWith('-----> Building stack variant')), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes(`tagging ${stackImage} as ${stackImage}-${name}`)), lines.join('\n'));
    // Present now: no second build.
    assert.equal(await variants.ensure(name), `${stackImage}-${name}`);
    assert.equal(readFileSync(runs, 'utf8').trim().split('\n').length, 1);
  });

  test('a variant that cannot be built fails with the script and its last words', async () => {
    const variants = new StackVariants(runtime, stackImage, script);
    await assert.rejects(variants.ensure('fail-one'), (err: Error) => {
      assert.match(err.message, /^stack variant fail-one could not be built on this node \(.*stack-variant-by-tag fail-one exited 4\)/);
      assert.match(err.message, /cannot install what it needs/);
      return true;
    });
    await assert.rejects(new StackVariants(runtime, stackImage, join(dir, 'nothing-here')).ensure('other'), /is missing to build it/);
    await assert.rejects(variants.ensure('Bad Name'), /invalid stack variant/);
  });

  test('which variant staging uses, and what a release may name', async () => {
    const app = join(dir, 'app');
    mkdirSync(app);
    assert.equal(await stagingVariant(app, undefined), undefined);
    writeFileSync(join(app, 'pom.xml'), '<project/>');
    assert.equal(await stagingVariant(app, undefined), 'jvm');
    assert.equal(await stagingVariant(app, 'java'), 'jvm');
    assert.equal(await stagingVariant(app, 'nodejs'), undefined);
    assert.equal(releaseVariant({}), undefined);
    assert.equal(releaseVariant({ stack_variant: 'jvm' }), 'jvm');
    assert.throws(() => releaseVariant({ stack_variant: '../x' }), /invalid stack_variant/);
    assert.throws(() => releaseVariant({ stack_variant: 3 }), /invalid stack_variant/);
    // A name the DEA once took but dea.start's schema refuses: the droplet would stage, then never start.
    assert.throws(() => releaseVariant({ stack_variant: '-jvm' }), /invalid stack_variant/);
    assert.equal(msg.DropletRun.safeParse({ stack_variant: 'jvm-17' }).success, true);
  });
});
