import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAlive, waitForPort } from '@nap/common';
import { eventually, httpGet, nap, napUpEnv, releaseSubnet, removeContainers, repoRoot } from '@nap/testkit';
import Docker from 'dockerode';

// The README's first command, as a new user runs it, in a NAP_HOME that has never seen a nap:
// nap up, push the sample app, reach it through the router, nap status, nap down. Only the ports
// (free ones) and the installation id (this run's, so its containers are this run's to remove)
// differ from the defaults; setup was done by npm test.
describe("the README's first command in a clean NAP_HOME: up, push, curl, status, down", () => {
  const home = mkdtempSync(join(tmpdir(), 'nap-up-'));
  const installationId = `test-${randomBytes(4).toString('hex')}`;
  let env: Record<string, string>;

  const pids = (): Record<string, number> =>
    existsSync(join(home, 'run'))
      ? Object.fromEntries(
          readdirSync(join(home, 'run'))
            .filter((f) => f.endsWith('.pid'))
            .map((f) => [f.replace(/\.pid$/, ''), Number(readFileSync(join(home, 'run', f), 'utf8'))]),
        )
      : {};

  before(async () => {
    env = await napUpEnv(home, installationId);
  });

  after(async () => {
    await nap(['down'], env).catch(() => undefined);
    await removeContainers(installationId);
    await releaseSubnet(env.NAP_CONTAINER_SUBNET);
    rmSync(home, { recursive: true, force: true });
  });

  test('nap up brings every program up and logs the CLI in', async () => {
    const up = await nap(['up', '--no-setup'], env);
    const log = (name: string) => (existsSync(join(home, 'logs', `${name}.log`)) ? readFileSync(join(home, 'logs', `${name}.log`), 'utf8').slice(-2000) : '');
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}\n${log('controller')}\n${log('dea')}`);
    const started = Object.keys(pids());
    for (const name of ['nats', 'etcd', 'router', 'directory', 'controller', 'dea']) assert.ok(started.includes(name), `${name} started (${started.join(', ')})`);
    const who = await nap(['whoami', '--json'], env);
    assert.equal(who.code, 0, who.stderr);
    assert.equal(JSON.parse(who.stdout).name, 'admin');
  });

  test('nap push examples/hello-node, then the app answers through the router by its host', async () => {
    const push = await nap(['push', 'hello-node', '-p', join(repoRoot, 'examples/hello-node')], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    assert.match(push.stdout, /http:\/\/hello-node\.nap\.localhost/);
    const answer = await eventually(async () => {
      const r = await httpGet(`http://127.0.0.1:${env.NAP_ROUTER_PORT}/`, { Host: 'hello-node.nap.localhost' }).catch(() => null);
      return r?.status === 200 ? r : null;
    }, 15_000, 'hello-node through the router');
    assert.match(answer.body, /Hello from nap/);
  });

  test('nap status says every program is up and the platform healthy', async () => {
    const status = await nap(['status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const { components, health } = JSON.parse(status.stdout) as { components: { name: string; state: string }[]; health: { ok: boolean } | null };
    assert.deepEqual(components.filter((c) => c.state !== 'up').map((c) => c.name), []);
    assert.equal(health?.ok, true);
  });

  test('nap down stops everything nap up started, and the app with it', async () => {
    const running = pids();
    const down = await nap(['down'], env);
    assert.equal(down.code, 0, `${down.stdout}\n${down.stderr}`);
    for (const [name, pid] of Object.entries(running)) assert.equal(isAlive(pid), false, `${name} (${pid}) still runs`);
    assert.equal(await waitForPort('127.0.0.1', Number(env.NAP_ROUTER_PORT), 500), false, 'the router port is closed');
    const status = await nap(['status', '--json'], env);
    const { components } = JSON.parse(status.stdout) as { components: { name: string; state: string }[] };
    assert.deepEqual(components.filter((c) => c.state === 'up').map((c) => c.name), []);
    const docker = new Docker({ socketPath: process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock' });
    const left = await docker.listContainers({ filters: { label: [`nap.installation=${installationId}`] } });
    assert.deepEqual(left.map((c) => c.Names.join(',')), [], 'no container of this installation runs');
  });
});
