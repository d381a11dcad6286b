import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';
import Docker from 'dockerode';

/** Every credential of the platform: engine passwords, the admin token, the directory secret. */
function secretsOf(platform: TestPlatform): string[] {
  const c = platform.engines.credentials;
  return [c.etcdRootPassword, ...Object.values(c.etcd), ...Object.values(c.nats), platform.adminToken, platform.env.NAP_DIRECTORY_SECRET];
}

/** Pids of the processes whose command line mentions `marker` (the engines' temp dir). */
function pidsMentioning(marker: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('a platform on authenticated engines, end to end', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  const host = 'creds-app.nap.localhost';

  before(async () => {
    platform = await TestPlatform.start();
    env = platform.cliEnv();
  });

  after(async () => {
    await platform?.stop();
  });

  test('an app pushes and answers through the router; no credential is in any command line or in the app', async () => {
    const push = await nap(['push', 'creds-app', '-p', `${repoRoot}examples/hello-node`], env);
    assert.equal(push.code, 0, `push failed:\n${push.stderr}\n${await platform.logTail('dea-1')}`);
    await eventually(async () => (await httpGet(`${platform.routerUrl}/`, { Host: host })).status === 200, 15_000, 'the app through the router');

    const secrets = secretsOf(platform);
    const services = ['router', 'controller-1', 'directory-1', 'dea-1'].map((n) => platform.pidOf(n)!);
    const engines = pidsMentioning(platform.engines.dir);
    assert.ok(engines.length >= 2, 'nats-server and etcd found');
    for (const pid of [...services, ...engines]) {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      for (const s of secrets) assert.ok(!cmdline.includes(s), `a secret in the command line of ${cmdline.replace(/\0/g, ' ')}`);
    }
    const docker = new Docker({ socketPath: process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock' });
    const containers = await platform.containers();
    assert.ok(containers.length > 0);
    for (const c of containers) {
      const info = await docker.getContainer(c.Id).inspect();
      const seen = [...(info.Config.Env ?? []), ...(info.Config.Cmd ?? []), ...(info.Config.Entrypoint ?? [])].join('\n');
      for (const s of secrets) assert.ok(!seen.includes(s), `a secret in container ${c.Names.join(',')}`);
      assert.doesNotMatch(seen, /NAP_(ETCD|NATS)_(USER|PASSWORD)/);
    }
    for (const log of readdirSync(`${platform.engines.dir}/logs`)) {
      const text = readFileSync(`${platform.engines.dir}/logs/${log}`, 'utf8');
      for (const s of secrets) assert.ok(!text.includes(s), `a secret in ${log}`);
    }
  });

  test('after an etcd restart the controller and the DEA log in again and keep working', async () => {
    await platform.engines.restartEtcd();
    // The controller writes desired state, its health manager (watching etcd) starts an instance,
    // the DEA records it in etcd under its lease, and both answer through the router.
    const scale = await nap(['scale', 'creds-app', '-i', '2'], env);
    assert.equal(scale.code, 0, scale.stderr);
    // running_instances comes from the DEA's records in etcd (the actual state), read by the controller.
    await eventually(
      async () => {
        const listed = JSON.parse((await nap(['apps', '--json'], env)).stdout) as { name: string; running_instances: number }[];
        return listed.find((a) => a.name === 'creds-app')?.running_instances === 2;
      },
      60_000,
      'two running instances reported from etcd',
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${await platform.logTail('controller-1')}\n${await platform.logTail('dea-1')}`);
    });
    const indices = new Set<string>();
    await eventually(
      async () => {
        const r = await httpGet(`${platform.routerUrl}/`, { Host: host });
        const m = /instance (\d+)/.exec(r.body);
        if (m) indices.add(m[1]);
        return indices.size === 2;
      },
      30_000,
      'both instances to answer through the router',
    );
  });
});
