import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
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
/** From the engine answering again to the API answering again (the bound). */
const API_BACK_MS = 5_000;

/**
 * An engine dies under a running nap, on real engines: a 3-instance app keeps answering through
 * the router, the API says what is wrong while it is away and is whole again within seconds of its
 * return, nothing the platform accepted is lost, and no component floods its log meanwhile.
 */
describe('chaos: etcd killed under a running nap', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  const components = ['controller-1', 'dea-1', 'dea-2', 'router', 'directory-1', 'directory-2'];
  const logFile = (c: string) => join(platform.engines.dir, 'logs', `${c}.log`);
  const logBytes = () => Object.fromEntries(components.map((c) => [c, statSync(logFile(c), { throwIfNoEntry: false })?.size ?? 0]));
  /** Bytes a component logged since `from`, less the router's access log (one line per request, outage or not). */
  const loggedSince = (c: string, from: number) =>
    readFileSync(logFile(c))
      .subarray(from)
      .toString('utf8')
      .split('\n')
      .filter((line) => line && !line.includes('"component":"accesslog"'))
      .reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
  const api = (path: string) => httpGet(`${platform.controllerUrl}${path}`, { Authorization: `Bearer ${platform.adminToken}` });
  const instances = async (app: string) => {
    const r = await api(`/v1/apps/${app}/instances`);
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as Instance[];
  };
  const runningIds = async (app: string) =>
    (await instances(app))
      .filter((i) => i.state === 'RUNNING')
      .map((i) => i.instance_id)
      .sort();

  let before_: { ids: string[]; logs: Record<string, number> };
  let during: { status: number; retryAfter: unknown; body: string }[] = [];
  let load: { requests: number; failures: string[] };
  let apiBackAfterMs = -1;
  let logs: Record<string, number>;

  before(async () => {
    platform = await TestPlatform.start({ deas: 2 });
    env = platform.cliEnv();
    const push = await nap(['push', 'steady', '-p', `${repoRoot}examples/hello-node`, '-i', '3'], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    const ids = await eventually(async () => {
      const r = await runningIds('steady');
      return r.length === 3 ? r : null;
    }, 30_000, 'three running instances');
    before_ = { ids, logs: logBytes() };

    const loop = requestLoop(platform.routerUrl, 'steady.nap.localhost');
    await platform.engines.killEtcd();
    const back = Date.now() + OUTAGE_MS;
    while (Date.now() < back) {
      const r = await api('/v1/apps').catch((e: Error) => ({ status: 0, headers: {} as Record<string, unknown>, body: e.message }));
      during.push({ status: r.status, retryAfter: r.headers['retry-after'], body: r.body.slice(0, 300) });
      await new Promise((r) => setTimeout(r, 1000));
    }
    await platform.engines.startEtcd();
    const started = Date.now();
    await eventually(async () => (await api('/v1/apps')).status === 200, 60_000, 'the API to answer 200 after etcd came back')
      .then(() => (apiBackAfterMs = Date.now() - started))
      .catch(() => {});
    // A few seconds of the platform whole again under load: leases, watches and the campaign are back.
    await new Promise((r) => setTimeout(r, 3000));
    load = await loop.stop();
    logs = Object.fromEntries(components.map((c) => [c, loggedSince(c, before_.logs[c])]));
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

  test('the API answered again within 5 s of etcd answering, from the same controller process', (t) => {
    t.diagnostic(`the API answered ${apiBackAfterMs} ms after etcd was back`);
    assert.ok(apiBackAfterMs >= 0 && apiBackAfterMs <= API_BACK_MS, `the API answered ${apiBackAfterMs} ms after etcd's return`);
    assert.ok(platform.pidOf('controller-1'), 'the controller is still running');
  });

  test('no instance was stopped or replaced because etcd blinked: the DEAs register the same ones again', async () => {
    let seen: string[] = [];
    await eventually(
      async () => {
        seen = await runningIds('steady');
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
    await eventually(async () => (await runningIds('steady')).length === 4, 30_000, 'four running instances');
    assert.equal((await api('/v1/apps/steady')).status, 200);
  });
});
