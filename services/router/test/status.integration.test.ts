import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger, loadSettings } from '@nap/common';
import { startRouter } from '../src/index.js';
import { answerName, CapturedLog, Harness, send } from './support/harness.js';
import { freePort } from './support/processes.js';

let h: Harness;
const access = new CapturedLog();
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Varz {
  type: string;
  uptime_s: number;
  requests: number;
  responses: Record<string, number>;
  router_errors: Record<string, number>;
  bytes_in: number;
  bytes_out: number;
  routes: number;
  endpoints: number;
  nats: string;
  latency: Record<'total' | 'app' | 'router', { count: number; p50_ms: number; buckets: { le_ms: number | string; count: number }[] }>;
}

before(async () => {
  h = await Harness.start({ NAP_ROUTER_STATUS_USER: 'ops', NAP_ROUTER_STATUS_PASSWORD: 's3cret-pw' }, { accessLog: access.logger });
  const slowish = await h.backend('slowish', answerName(30));
  h.register(['status.test', 'alias.test'], slowish);
  await h.route('status.test', slowish);
});

after(async () => {
  await h?.stop();
});

test('/healthz answers ok', async () => {
  const r = await h.status('/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
});

test('/varz counts requests by status class, bytes and latency, the router apart from the app', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await h.request('status.test', { method: 'POST', body: 'hello' })).status, 200);
  assert.equal((await h.request('missing.test')).status, 404);
  const varz = JSON.parse((await h.status('/varz')).body) as Varz;
  assert.equal(varz.type, 'router');
  assert.equal(varz.requests, 4);
  assert.equal(varz.responses['2xx'], 3);
  assert.equal(varz.responses['4xx'], 1);
  assert.equal(varz.router_errors.unknown_route, 1);
  assert.ok(varz.bytes_in > 4 * 40 && varz.bytes_out > 4 * 40, `${varz.bytes_in} in, ${varz.bytes_out} out`);
  assert.equal(varz.routes, 2);
  assert.equal(varz.endpoints, 1);
  assert.equal(varz.nats, 'connected');
  assert.ok(varz.uptime_s >= 0);
  assert.equal(varz.latency.total.count, 4);
  assert.equal(varz.latency.app.count, 3);
  assert.equal(varz.latency.router.count, 4);
  // The app takes 30 ms, and that is the app's share, not the router's (whose speed bench/router
  // measures: a loaded CI machine is no stopwatch).
  assert.ok(varz.latency.app.p50_ms >= 25, `app p50 ${varz.latency.app.p50_ms}`);
  assert.ok(varz.latency.router.p50_ms < varz.latency.app.p50_ms, `router p50 ${varz.latency.router.p50_ms}`);
  assert.equal(
    varz.latency.total.buckets.reduce((n, b) => n + b.count, 0),
    4,
  );
});

test("/metrics gives each app's requests by status class, its bytes and latency, in Prometheus' text format", async () => {
  const r = await h.status('/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  // The three POSTs of the test above reached the app; the unknown host is the router's own answer.
  assert.match(r.body, /^nap_router_app_requests_total\{app="slowish",class="2xx"\} 3$/m);
  assert.doesNotMatch(r.body, /nap_router_app_requests_total\{app="slowish",class="4xx"\}/);
  assert.match(r.body, /^nap_router_requests_total\{class="4xx"\} 1$/m);
  assert.match(r.body, /^nap_router_errors_total\{error="unknown_route"\} 1$/m);
  const bytesIn = Number(/^nap_router_app_bytes_total\{app="slowish",direction="in"\} (\d+)$/m.exec(r.body)?.[1]);
  assert.ok(bytesIn > 3 * 40, r.body);
  const p50 = Number(/^nap_router_app_latency_ms\{app="slowish",quantile="0.5"\} ([\d.]+)$/m.exec(r.body)?.[1]);
  assert.ok(p50 >= 25, `the app takes 30 ms: p50 ${p50}`);
});

test('an access line per request, with the router time apart from the app time', async () => {
  const reply = await h.request('status.test', { path: '/some/path?q=1' });
  const line = access.lines.find((l) => l.path === '/some/path?q=1')!;
  assert.ok(line, 'no access line');
  assert.equal(line.msg, 'access');
  assert.equal(line.method, 'GET');
  assert.equal(line.host, 'status.test');
  assert.equal(line.status, 200);
  assert.equal(line.endpoint, `127.0.0.1:${h.backends[0].port}`);
  assert.match(String(line.request_id), /^[0-9a-f-]{36}$/);
  assert.equal(line.attempts, 1);
  assert.ok((line.bytes_out as number) >= reply.body.length);
  assert.ok((line.app_ms as number) >= 25);
  assert.ok(Math.abs((line.total_ms as number) - (line.app_ms as number) - (line.router_ms as number)) < 0.01);
  const miss = access.lines.find((l) => l.host === 'missing.test')!;
  assert.equal(miss.status, 404);
  assert.equal(miss.error, 'unknown_route');
  assert.equal(miss.app_ms, 0);
});

test('/routes needs the basic-auth user and password from settings', async () => {
  assert.equal((await h.status('/routes')).status, 401);
  assert.equal((await h.status('/routes')).headers['www-authenticate'], 'Basic realm="nap-router"');
  assert.equal((await h.status('/routes', { authorization: basic('ops', 'wrong') })).status, 401);
  assert.equal((await h.status('/routes', { authorization: basic('router', 's3cret-pw') })).status, 401);
  assert.equal((await h.status('/routes', { authorization: 'Bearer s3cret-pw' })).status, 401);
  const ok = await h.status('/routes', { authorization: basic('ops', 's3cret-pw') });
  assert.equal(ok.status, 200);
  const routes = JSON.parse(ok.body);
  assert.deepEqual(Object.keys(routes).sort(), ['alias.test', 'status.test']);
  assert.equal(routes['status.test'][0].address, `127.0.0.1:${h.backends[0].port}`);
  assert.equal(routes['status.test'][0].private_instance_id, 'slowish-0');
  assert.equal(routes['status.test'][0].failing, false);
});

test('without a password configured, /routes refuses everyone; /healthz and /varz stay open', async () => {
  const port = await freePort();
  const statusPort = await freePort();
  const settings = loadSettings({ ...h.nats.env, NAP_ROUTER_PORT: String(port), NAP_ROUTER_STATUS_PORT: String(statusPort) });
  const router = await startRouter(settings, createLogger('router-test', 'silent'), { listenHost: '127.0.0.1', claims: false });
  try {
    for (const auth of [undefined, basic('router', ''), basic('router', 'undefined'), basic('', '')]) {
      const r = await send(statusPort, 'localhost', { path: '/routes', headers: auth ? { authorization: auth } : {} });
      assert.equal(r.status, 401, String(auth));
    }
    assert.equal((await send(statusPort, 'localhost', { path: '/healthz' })).status, 200);
    assert.equal((await send(statusPort, 'localhost', { path: '/varz' })).status, 200);
  } finally {
    await router.close();
  }
});
