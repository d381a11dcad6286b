import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StackVariants } from '../../src/images/stack-variants.js';

test("the stack variant script gets none of the DEA's engine credentials (its output is the tenant's staging log)", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nap-variant-env-'));
  const secrets = { NAP_ETCD_USER: 'dea', NAP_ETCD_PASSWORD: 'etcd-secret-4f1a', NAP_NATS_USER: 'dea', NAP_NATS_PASSWORD: 'nats-secret-9c2e' };
  const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
  Object.assign(process.env, secrets);
  try {
    const script = join(dir, 'stack-variant');
    await writeFile(script, '#!/bin/sh\nenv\n');
    await chmod(script, 0o755);
    let built = false;
    const runtime = { imageExists: async () => built };
    const variants = new StackVariants(runtime as never, 'nap/stack:test', script);
    const lines: string[] = [];
    // The stand-in makes no image: the build fails after the script ran, which is all this needs.
    await variants.ensure('jvm', (l) => lines.push(l)).catch(() => {});
    built = true;
    const seen = lines.join('\n');
    assert.match(seen, /NAP_STACK_IMAGE=nap\/stack:test/, 'the script ran and printed its environment');
    for (const [k, v] of Object.entries(secrets)) {
      assert.ok(!seen.includes(v), `${k}'s value reached the script`);
      assert.ok(!seen.includes(`${k}=`), `${k} reached the script`);
    }
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await rm(dir, { recursive: true, force: true });
  }
});
