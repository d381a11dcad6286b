import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modulesLoadedBy } from '@nap/testkit';

// The engine clients cost about 0.3 s at every start (bench/results/cli.md); only up, down and
// status need them, and load them when they run. (grpc, which etcd3 require()s, is not listed:
// the recorder sees imports, not require() inside a CommonJS package.)
const ENGINE_CLIENTS = ['etcd3', 'nats'];

for (const args of [['--help'], ['push', '--help'], ['apps', '--help'], ['logs', '--help']]) {
  test(`nap ${args.join(' ')} loads no engine client`, async () => {
    const { modules, packages } = await modulesLoadedBy(args);
    assert.ok(packages.has('commander'), `the recorder saw the CLI load (${modules.length} modules)`);
    assert.deepEqual(ENGINE_CLIENTS.filter((p) => packages.has(p)), []);
  });
}

test('the recorder does see the engine clients when something loads them', async () => {
  const { packages } = await modulesLoadedBy(['--help'], '@nap/common');
  assert.deepEqual(ENGINE_CLIENTS.filter((p) => packages.has(p)), ['etcd3', 'nats']);
});
