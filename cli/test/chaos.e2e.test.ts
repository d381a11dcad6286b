import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Bus, connectEtcd, createLogger, JetStreamBlobstore, keys, loadSettings } from '@nap/common';
import { eventually, httpGet, nap, repoRoot, requestLoop, TestPlatform } from '@nap/testkit';

interface Instance {
  index: number;
  instance_id: string;
  state: string;
}

/** Long enough for every retry loop to have gone round many times; bench/chaos holds it 60 s. */
const OUTAGE_MS = 15_000;
/** What a component may write to its log in one outage (the bound is 1 MB for 60 s). */
const LOG_BYTES_PER_OUTAGE = 1024 * 1024;
const COMPONENTS = ['controller-1', 'dea-1', 'dea-2', 'router', 'directory-1', 'directory-2'];

/** What the chaos tests look at on a running platform: the API as admin, instances, and log growth. */
function observe(platform: TestPlatform) {
  const api = (path: string, method = 'GET') => httpGet(`${platform.controllerUrl}${path}`, { Authorization: `Bearer ${platform.adminToken}` }, method);
  const instances = async (app: string) => {
    const r = await api(`/v1/apps/${app}/instances`);
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as Instance[];
  };
  return {
    api,
    runningIds: async (app: string) =>
      (await instances(app))
        .filter((i) => i.state === 'RUNNING')
        .map((i) => i.instance_id)
        .sort(),
    logBytes: () => platform.logSizes(COMPONENTS),
    loggedSince: (from: Record<string, number>) => platform.loggedSince(from),
  };
}

/** A 3-instance app on two DEAs, all running: the ids of its instances. */
async function steadyApp(platform: TestPlatform, o: ReturnType<typeof observe>): Promise<string[]> {
  const push = await nap(['push', 'steady', '-p', `${repoRoot}examples/hello-node`, '-i', '3'], platform.cliEnv());
  assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
  return eventually(async () => {
    const r = await o.runningIds('steady');
    return r.length === 3 ? r : null;
  }, 30_000, 'three running instances');
}

/**
 * An engine dies under a running nap, on real engines: a 3-instance app keeps answering through
 * the router, the API says what is wrong while it is away and is whole again within seconds of its
 * return, nothing the platform accepted is lost, and no component floods its log meanwhile.
 */
describe('chaos: etcd, then each of nap\'s own programs, killed under a running nap', () => {
  let platform: TestPlatform;
  let o: ReturnType<typeof observe>;
  let env: Record<string, string>;
  let before_: { ids: string[]; logs: Record<string, number> };
  const during: { status: number; retryAfter: unknown; body: string }[] = [];
  let load: { requests: number; failures: string[] };
  let apiBackAfterMs = -1;
  let logs: Record<string, number>;

  before(async () => {
    platform = await TestPlatform.start({ deas: 2 });
    o = observe(platform);
    env = platform.cliEnv();
    before_ = { ids: await steadyApp(platform, o), logs: o.logBytes() };

    const loop = requestLoop(platform.routerUrl, 'steady.nap.localhost');
    await platform.engines.killEtcd();
    const back = Date.now() + OUTAGE_MS;
    while (Date.now() < back) {
      const r = await o.api('/v1/apps').catch((e: Error) => ({ status: 0, headers: {} as Record<string, unknown>, body: e.message }));
      during.push({ status: r.status, retryAfter: r.headers['retry-after'], body: r.body.slice(0, 300) });
      await new Promise((r) => setTimeout(r, 1000));
    }
    await platform.engines.startEtcd();
    const started = Date.now();
    await eventually(async () => (await o.api('/v1/apps')).status === 200, 60_000, 'the API to answer 200 after etcd came back')
      .then(() => (apiBackAfterMs = Date.now() - started))
      .catch(() => {});
    // A few seconds of the platform whole again under load: leases, watches and the campaign are back.
    await new Promise((r) => setTimeout(r, 3000));
    load = await loop.stop();
    logs = o.loggedSince(before_.logs);
  });

  after(async () => {
    await platform?.stop();
  });

  test('the app answered every request through the router while etcd was away', () => {
    assert.ok(load.requests > 50, `requests were made (${load.requests})`);
    assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.requests} failed`);
  });

  test('meanwhile the API answered 503 with Retry-After, naming etcd', () => {
    const late = during.slice(3); // the first seconds may still be served from before the kill
    assert.ok(late.length > 0);
    for (const r of late) {
      assert.equal(r.status, 503, `GET /v1/apps during the outage: ${r.status} ${r.body}`);
      assert.ok(Number(r.retryAfter) > 0, `Retry-After: ${String(r.retryAfter)}`);
      assert.match(r.body, /etcd is not answering|took longer than/);
    }
    assert.ok(late.some((r) => /etcd is not answering/.test(r.body)), JSON.stringify(late));
  });

  // How soon it answers is bench/chaos's figure (issue 12's goal: 5 s); a test only asks that it does.
  test('the API answers again once etcd is back, from the same controller process', (t) => {
    t.diagnostic(`the API answered ${apiBackAfterMs} ms after etcd was back`);
    assert.ok(apiBackAfterMs >= 0, 'the API did not answer 200 within 60 s of etcd\'s return');
    assert.ok(platform.pidOf('controller-1'), 'the controller is still running');
  });

  test('no instance was stopped or replaced because etcd blinked: the DEAs register the same ones again', async () => {
    let seen: string[] = [];
    await eventually(
      async () => {
        seen = await o.runningIds('steady');
        return seen.length >= before_.ids.length;
      },
      15_000,
      'the DEAs to register their instances again',
    ).catch(() => {});
    assert.deepEqual(seen, before_.ids, `running after the outage: ${JSON.stringify(seen)}\n${await platform.logTail('dea-1', 15)}\n${await platform.logTail('controller-1', 15)}`);
  });

  test('no component wrote more than 1 MB of log during the outage', (t) => {
    t.diagnostic(`log bytes written during the outage: ${JSON.stringify(logs)}`);
    for (const [c, bytes] of Object.entries(logs)) assert.ok(bytes < LOG_BYTES_PER_OUTAGE, `${c} wrote ${bytes} bytes: ${JSON.stringify(logs)}`);
  });

  test('the health manager acts again: a scale to 4 is carried out', async () => {
    const scale = await nap(['scale', 'steady', '-i', '4'], env);
    assert.equal(scale.code, 0, `${scale.stdout}\n${scale.stderr}`);
    await eventually(async () => (await o.runningIds('steady')).length === 4, 30_000, 'four running instances');
    assert.equal((await o.api('/v1/apps/steady')).status, 200);
  });

  // nap's own programs, each kill -9'd and started again after PROGRAM_DOWN_MS, as the supervisor
  // (or systemd) would: what was running keeps running, and the program is whole again at once.
  const PROGRAM_DOWN_MS = 3_000;
  const killAndRestart = async (name: string) => {
    await platform.stopService(name, { kill: true });
    await new Promise((r) => setTimeout(r, PROGRAM_DOWN_MS));
    platform.startService(name);
    return Date.now();
  };

  test('the controller killed: not one request fails, and the new one answers the API', async (t) => {
    const ids = await o.runningIds('steady');
    const loop = requestLoop(platform.routerUrl, 'steady.nap.localhost');
    const started = await killAndRestart('controller-1');
    await eventually(async () => (await o.api('/v1/apps').catch(() => ({ status: 0 }))).status === 200, 30_000, 'the API after the controller restarted');
    const backMs = Date.now() - started;
    const load = await loop.stop();
    t.diagnostic(`API back ${backMs} ms after the controller was started again; ${load.requests} requests`);
    assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.requests} failed`);
    assert.deepEqual(await o.runningIds('steady'), ids, 'the same instances run');
  });

  test('a DEA killed: not one request fails, and the new one adopts its running instances', async () => {
    const ids = await o.runningIds('steady');
    const loop = requestLoop(platform.routerUrl, 'steady.nap.localhost');
    await killAndRestart('dea-1');
    await platform.waitForDeas(2);
    const load = await loop.stop();
    assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.requests} failed`);
    const after_ = await eventually(async () => {
      const r = await o.runningIds('steady');
      return r.length === ids.length ? r : null;
    }, 15_000, 'the instances again');
    assert.deepEqual(after_, ids, 'the same instances, adopted, not replaced');
  });

  test('the directory server killed: requests go on, and once it is back nap logs reads through it again', async () => {
    const loop = requestLoop(platform.routerUrl, 'steady.nap.localhost');
    await killAndRestart('directory-1');
    await killAndRestart('directory-2');
    const logs = await eventually(async () => {
      const r = await nap(['logs', 'steady'], env);
      return r.code === 0 && /\[\d\/out\]/.test(r.stdout) ? r : null;
    }, 15_000, 'nap logs through the restarted directory servers');
    const load = await loop.stop();
    assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.requests} failed`);
    assert.match(logs.stdout, /\[\d\/out\]/);
  });

  test('the router killed: once it is started again it serves every app within seconds, its table rebuilt from the DEAs', async (t) => {
    const started = await killAndRestart('router');
    const served = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: 'steady.nap.localhost' }).catch(() => null);
      return r?.status === 200 ? r : null;
    }, 15_000, 'the app through the restarted router');
    t.diagnostic(`served again ${Date.now() - started} ms after the router was started again`);
    assert.match(served.body, /Hello from nap/);
    const loop = requestLoop(platform.routerUrl, 'steady.nap.localhost');
    await new Promise((r) => setTimeout(r, 1000));
    const load = await loop.stop();
    assert.deepEqual(load.failures, [], 'after its return no request fails');
  });
});

/**
 * NATS dies under a running nap: routes and instances stay (the router keeps its table, the DEAs
 * their containers), a scale asked for meanwhile is carried out once NATS is back, and the
 * blobstore (JetStream, on disk) still holds every droplet after the kill -9.
 */
describe('chaos: nats-server killed under a running nap', () => {
  let platform: TestPlatform;
  let o: ReturnType<typeof observe>;
  let env: Record<string, string>;
  let before_: { ids: string[]; logs: Record<string, number>; droplet: string };
  let load: { requests: number; failures: string[] };
  let listDuring: number[] = [];
  let scaleDuring: { code: number; output: string };
  let logs: Record<string, number>;
  let backAt = 0;

  before(async () => {
    platform = await TestPlatform.start({ deas: 2 });
    o = observe(platform);
    env = platform.cliEnv();
    const ids = await steadyApp(platform, o);
    const etcd = connectEtcd(loadSettings({ ...platform.env, ...platform.engines.env }));
    const droplet = (JSON.parse((await etcd.get(keys.app('steady')).string()) ?? '{}') as { droplet?: { key: string } }).droplet?.key ?? '';
    etcd.close();
    assert.ok(droplet, 'the app has a droplet');
    before_ = { ids, logs: o.logBytes(), droplet };

    const loop = requestLoop(platform.routerUrl, 'steady.nap.localhost');
    await platform.engines.killNats();
    const scaling = nap(['scale', 'steady', '-i', '4'], env).then((r) => ({ code: r.code, output: `${r.stdout}${r.stderr}` }));
    const back = Date.now() + OUTAGE_MS;
    while (Date.now() < back) {
      listDuring.push((await o.api('/v1/apps').catch(() => ({ status: 0 }))).status);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await platform.engines.startNats();
    backAt = Date.now();
    scaleDuring = await scaling;
    await new Promise((r) => setTimeout(r, 3000));
    load = await loop.stop();
    logs = o.loggedSince(before_.logs);
  });

  after(async () => {
    await platform?.stop();
  });

  test('the app answered every request through the router while NATS was away', () => {
    assert.ok(load.requests > 50, `requests were made (${load.requests})`);
    assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.requests} failed`);
  });

  test('the API kept answering what needs only etcd, and took the scale', () => {
    assert.deepEqual([...new Set(listDuring)], [200], `GET /v1/apps during the outage: ${listDuring.join(' ')}`);
    assert.equal(scaleDuring.code, 0, scaleDuring.output);
  });

  test('once NATS is back, the scale asked for during the outage is carried out, keeping the instances that ran', async () => {
    const ids = await eventually(async () => {
      const r = await o.runningIds('steady');
      return r.length === 4 ? r : null;
    }, 30_000, `four running instances\n${await platform.logTail('controller-1', 10)}`);
    for (const id of before_.ids) assert.ok(ids.includes(id), `instance ${id} still runs: ${JSON.stringify(ids)}`);
  });

  test('no component wrote more than 1 MB of log during the outage', (t) => {
    t.diagnostic(`log bytes written during the outage: ${JSON.stringify(logs)}`);
    for (const [c, bytes] of Object.entries(logs)) assert.ok(bytes < LOG_BYTES_PER_OUTAGE, `${c} wrote ${bytes} bytes: ${JSON.stringify(logs)}`);
  });

  test('the droplet survived the kill -9 in JetStream, and a push stages and runs again', async (t) => {
    const settings = loadSettings({ ...platform.env, NAP_NATS_URL: platform.engines.natsUrl, NAP_NATS_USER: platform.engines.natsUser, NAP_NATS_PASSWORD: platform.engines.natsPassword, NAP_LOG_LEVEL: 'silent' });
    const bus = await Bus.connect(settings, { name: 'chaos-test', log: createLogger('test', 'silent') });
    try {
      const blobs = await JetStreamBlobstore.open(bus);
      assert.equal(await blobs.has(before_.droplet), true, `${before_.droplet} is in the blobstore`);
    } finally {
      await bus.close();
    }
    const push = await nap(['push', 'steady', '-p', `${repoRoot}examples/hello-static`], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    t.diagnostic(`push done ${((Date.now() - backAt) / 1000).toFixed(1)} s after NATS was back`);
    const r = await eventually(async () => {
      const res = await httpGet(`${platform.routerUrl}/`, { Host: 'steady.nap.localhost' });
      return res.status === 200 && !/Hello from nap/.test(res.body) ? res : null;
    }, 30_000, 'the new version through the router');
    assert.equal(r.status, 200);
  });
});
