import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { containerNetworkNames, freePort, gatewayOf, parseCidr } from '@nap/common';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

/** The probe app (fixtures/netprobe): connects where it is told and reports what it saw. */
const netprobeApp = `${repoRoot}cli/test/fixtures/netprobe`;

/**
 * Issue 11, "every container gets its own network namespace": from inside a real instance on a
 * real platform, the platform's ports, the host, and the other instance are out of reach; what
 * the app binds stays in its namespace. Only addresses of this run's own making are probed
 * (loopback, nap's bridge and the containers on it): never the host's other addresses.
 */

function hostConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
  });
}

function nft(args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => execFile('nft', args, (err, out) => resolve({ ok: !err, out })));
}

/** Ports in LISTEN state (st 0A) of /proc/net/tcp and tcp6 (their header lines have no 0A state). */
function listeningPorts(procNetTcp: string): number[] {
  return procNetTcp
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[3] === '0A')
    .map((f) => parseInt(f[1].split(':')[1], 16));
}

describe("containers in nap's own network namespace, end to end on real NATS, etcd and Docker", () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  /** Per instance index: its host port (the one nap maps) and its container's address. */
  const instances = new Map<number, { hostPort: number; address: string }>();
  let platformPorts: Record<string, number>;
  let gateway: string;

  const probeFrom = async (index: number, targets: string[]): Promise<Record<string, string>> => {
    const query = targets.map((t) => `to=${encodeURIComponent(t)}`).join('&');
    const r = await httpGet(`http://127.0.0.1:${instances.get(index)!.hostPort}/probe?${query}`);
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as Record<string, string>;
  };

  before(async () => {
    platform = await TestPlatform.start();
    env = platform.cliEnv();
    const push = await nap(['push', 'netprobe', '-p', netprobeApp, '-i', '2'], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}\n${await platform.logTail('dea-1')}`);
    const app = JSON.parse((await nap(['app', 'netprobe', '--json'], env)).stdout) as { instance_details: { index: number; port: number; state: string }[] };
    const containers = await platform.containers({ 'nap.app_name': 'netprobe', 'nap.kind': 'instance' });
    const network = containerNetworkNames(platform.installationId).network;
    for (const d of app.instance_details.filter((i) => i.state === 'RUNNING')) {
      const c = containers.find((x) => x.Labels['nap.index'] === String(d.index) && x.State === 'running')!;
      instances.set(d.index, { hostPort: d.port, address: (await platform.networkSettings(c.Id)).Networks[network].IPAddress });
    }
    assert.equal(instances.size, 2, JSON.stringify(app.instance_details));
    const deas = JSON.parse((await httpGet(`${platform.controllerUrl}/v1/deas`, { Authorization: `Bearer ${platform.adminToken}` })).body) as { directory_url: string }[];
    platformPorts = {
      etcd: Number(new URL(platform.env.NAP_ETCD_URLS.split(',')[0]).port),
      nats: Number(new URL(platform.env.NAP_NATS_URL.split(',')[0]).port),
      controller: Number(platform.env.NAP_CONTROLLER_PORT),
      router: Number(platform.env.NAP_ROUTER_PORT),
      'router status': Number(platform.env.NAP_ROUTER_STATUS_PORT),
      directory: Number(new URL(deas[0].directory_url).port),
    };
    gateway = gatewayOf(parseCidr(platform.env.NAP_CONTAINER_SUBNET)!);
  });

  after(async () => {
    const installation = platform?.installationId;
    await platform?.stop();
    if (installation) {
      // The run's stop removed exactly its own network and table.
      const names = containerNetworkNames(installation);
      assert.equal((await nft(['list', 'table', 'inet', names.table])).ok, false, 'the nft table is gone');
      const status = await new Promise<number>((resolve) =>
        request({ socketPath: '/var/run/docker.sock', path: `/networks/${names.network}` }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).end(),
      );
      assert.equal(status, 404, 'the Docker network is gone');
    }
  });

  test('the app answers through the router, and on its mapped host port', async () => {
    const res = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: 'netprobe.nap.localhost' });
      return r.status === 200 ? r : null;
    }, 10_000, 'the app to answer through the router');
    assert.match(res.body, /^probe [01]$/);
    for (const [index, i] of instances) assert.equal((await httpGet(`http://127.0.0.1:${i.hostPort}/`)).body, `probe ${index}`);
  });

  test("the platform's ports on the bridge's gateway and on the container's own loopback reach nothing", async () => {
    const targets = Object.values(platformPorts).flatMap((p) => [`${gateway}:${p}`, `127.0.0.1:${p}`]);
    const seen = await probeFrom(0, [...targets, '127.0.0.1:8080']);
    // The probe does see a listener where there is one: the app's own port in its namespace.
    assert.equal(seen['127.0.0.1:8080'], 'connected');
    for (const [name, port] of Object.entries(platformPorts)) {
      assert.notEqual(seen[`${gateway}:${port}`], 'connected', `${name} (${port}) through the gateway: ${seen[`${gateway}:${port}`]}`);
      assert.notEqual(seen[`127.0.0.1:${port}`], 'connected', `${name} (${port}) on loopback: ${seen[`127.0.0.1:${port}`]}`);
    }
  });

  test("another instance is out of reach on its container address and on its host port", async () => {
    const other = instances.get(1)!;
    const seen = await probeFrom(0, [`${other.address}:8080`, `${gateway}:${other.hostPort}`]);
    assert.notEqual(seen[`${other.address}:8080`], 'connected', `container address: ${seen[`${other.address}:8080`]}`);
    assert.notEqual(seen[`${gateway}:${other.hostPort}`], 'connected', `host port through the gateway: ${seen[`${gateway}:${other.hostPort}`]}`);
    // It is there, and answers the way nap routes to it.
    assert.equal((await httpGet(`http://127.0.0.1:${other.hostPort}/`)).body, 'probe 1');
  });

  test("a port the app binds stays in its namespace: the host's 127.0.0.1 does not reach it", async () => {
    const port = await freePort();
    const bind = await httpGet(`http://127.0.0.1:${instances.get(0)!.hostPort}/bind?port=${port}`);
    assert.equal(bind.body, 'bound');
    assert.equal((await probeFrom(0, [`127.0.0.1:${port}`]))[`127.0.0.1:${port}`], 'connected', 'the squatter listens inside');
    assert.equal(await hostConnect(port), 'ECONNREFUSED');
  });

  test("/proc/net/tcp and tcp6 inside show the app's own listener and none of the platform's", async () => {
    const r = await httpGet(`http://127.0.0.1:${instances.get(0)!.hostPort}/proc-net-tcp`).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${(await nap(['app', 'netprobe', '--json'], env)).stdout}\n${await platform.logTail('dea-1')}`);
    });
    const listening = listeningPorts(r.body);
    assert.ok(listening.includes(8080), r.body);
    for (const [name, port] of Object.entries(platformPorts)) assert.ok(!listening.includes(port), `${name} port ${port} is listed:\n${r.body}`);
  });

  test("nap's table drops link-local (the metadata address) and maps exactly the running instances' host ports", async () => {
    const names = containerNetworkNames(platform.installationId);
    const { ok, out } = await nft(['list', 'table', 'inet', names.table]);
    assert.ok(ok, out);
    const forward = out.slice(out.indexOf('chain forward'));
    assert.match(forward, new RegExp(`iifname "${names.bridge}" ip daddr 169\\.254\\.0\\.0/16 drop`));
    assert.match(out, new RegExp(`iifname "${names.bridge}" drop`), 'input from the bridge is dropped');
    const mapped = [...out.matchAll(/(\d+) : (\d+\.\d+\.\d+\.\d+) \. (\d+)/g)].map((m) => `${m[1]}>${m[2]}:${m[3]}`).sort();
    assert.deepEqual(mapped, [...instances.values()].map((i) => `${i.hostPort}>${i.address}:8080`).sort());
  });

  // Last: it adds an instance, which the port-mapping test above does not expect.
  test('a ready sandbox that was removed by hand is replaced, not joined: a new instance starts and answers', async () => {
    const idleSandboxes = async () => {
      const all = await platform.containers();
      const joined = new Set(all.map((c) => c.Labels['nap.sandbox']).filter(Boolean));
      return all.filter((c) => c.Labels['nap.kind'] === 'net-sandbox' && !joined.has(c.Id) && c.State === 'running').map((c) => c.Id);
    };
    const removed = await eventually(async () => {
      const idle = await idleSandboxes();
      return idle.length > 0 ? idle : null;
    }, 10_000, 'the DEA to keep sandboxes ready');
    for (const id of removed) await new Promise((resolve) => execFile('docker', ['rm', '-f', id], resolve));

    const scale = await nap(['scale', 'netprobe', 'web=3'], env);
    assert.equal(scale.code, 0, `${scale.stdout}\n${scale.stderr}`);
    const third = await eventually(async () => {
      const app = JSON.parse((await nap(['app', 'netprobe', '--json'], env)).stdout) as { instance_details: { index: number; port: number; state: string; restarts: number }[] };
      return app.instance_details.find((i) => i.index === 2 && i.state === 'RUNNING') ?? null;
    }, 30_000, `instance 2 to run\n${await platform.logTail('dea-1')}`);
    assert.equal((await httpGet(`http://127.0.0.1:${third.port}/`)).body, 'probe 2');
    // Started at the first try: a join of the dead sandbox would have failed the start, and the restart hidden it.
    assert.equal(third.restarts, 0);
    const container = (await platform.containers({ 'nap.app_name': 'netprobe', 'nap.index': '2', 'nap.kind': 'instance' })).find((c) => c.State === 'running')!;
    assert.ok(!removed.includes(container.Labels['nap.sandbox']), 'the new instance joined a sandbox that still runs');
    // And the pool is filled again, with sandboxes of its own making.
    const refilled = await eventually(async () => {
      const idle = await idleSandboxes();
      return idle.length === 2 ? idle : null;
    }, 15_000, 'the pool to be refilled');
    assert.ok(refilled.every((id) => !removed.includes(id)));
  });
});
