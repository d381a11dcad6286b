import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Bus, createLogger, loadSettings, msg, subjects } from '@nap/common';
import { startRouter, type Router } from '../src/index.js';
import { freePort, startNatsServer, waitFor, type NatsServer } from './support/processes.js';

interface Backend {
  name: string;
  port: number;
  server: http.Server;
  lastHeaders?: http.IncomingHttpHeaders;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const log = createLogger('router-test', 'silent');
let nats: NatsServer;
let router: Router;
let bus: Bus;
let routerPort: number;
let statusPort: number;
const backends: Backend[] = [];

async function startBackend(name: string, delayMs = 0): Promise<Backend> {
  const backend: Backend = { name, port: 0, server: http.createServer() };
  backend.server.on('request', (req, res) => {
    backend.lastHeaders = req.headers;
    setTimeout(() => res.end(name), delayMs).unref();
  });
  await new Promise<void>((r) => backend.server.listen(0, '127.0.0.1', r));
  backend.port = (backend.server.address() as AddressInfo).port;
  backends.push(backend);
  return backend;
}

function request(host: string, path = '/', port = routerPort): Promise<Reply> {
  return send('GET', host, undefined, path, port);
}

function send(method: string, host: string, body?: string, path = '/', port = routerPort): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function register(subject: string, uri: string, b: { port: number; name?: string }): void {
  bus.publish(subject, msg.RouterRegister, {
    host: '127.0.0.1',
    port: b.port,
    uris: [uri],
    app: b.name ?? 'dead',
    private_instance_id: `${b.name ?? 'dead'}-0`,
  });
}

const poolSize = (host: string) => router.table.lookup(host)?.size ?? 0;

before(async () => {
  nats = await startNatsServer();
  routerPort = await freePort();
  statusPort = await freePort();
  const settings = loadSettings({
    NAP_NATS_URL: nats.url,
    NAP_ROUTER_PORT: String(routerPort),
    NAP_ROUTER_STATUS_PORT: String(statusPort),
    NAP_LOG_LEVEL: 'silent',
  });
  bus = await Bus.connect(settings, { name: 'router-test', log });
  router = await startRouter(settings, log, { listenHost: '127.0.0.1' });
});

after(async () => {
  await router?.close();
  await bus?.close();
  for (const b of backends) b.server.closeAllConnections(), b.server.close();
  await nats?.stop();
});

test('requests for one host alternate between its two endpoints', async () => {
  const [one, two] = [await startBackend('one'), await startBackend('two')];
  register(subjects.routerRegister, 'app.test', one);
  register(subjects.routerRegister, 'App.Test', two);
  await waitFor('both registrations', () => poolSize('app.test') === 2);

  const bodies = [];
  for (let i = 0; i < 4; i++) bodies.push((await request('app.test')).body);
  assert.deepEqual(new Set(bodies), new Set(['one', 'two']));
  for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1]);
});

test('the app sees forwarding headers and a request id', async () => {
  const reply = await request('app.test:' + routerPort);
  assert.equal(reply.status, 200);
  const seen = backends.find((b) => b.name === reply.body)!.lastHeaders!;
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.match(String(seen['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(seen.host, 'app.test:' + routerPort);
});

test('an unknown host gets 404 naming it', async () => {
  const reply = await request('Nope.Nap.Localhost:8080');
  assert.equal(reply.status, 404);
  assert.equal(reply.headers['x-nap-router-error'], 'unknown_route');
  assert.match(reply.body, /Requested route \('nope\.nap\.localhost'\) does not exist/);
});

test('after router.unregister only the other endpoint answers', async () => {
  const one = backends.find((b) => b.name === 'one')!;
  register(subjects.routerUnregister, 'app.test', one);
  await waitFor('the unregistration', () => poolSize('app.test') === 1);
  for (let i = 0; i < 4; i++) assert.equal((await request('app.test')).body, 'two');
});

test('a dead endpoint is skipped for a live one', async () => {
  const live = await startBackend('live');
  const deadPort = await freePort();
  register(subjects.routerRegister, 'retry.test', { port: deadPort });
  register(subjects.routerRegister, 'retry.test', live);
  await waitFor('both registrations', () => poolSize('retry.test') === 2);
  for (let i = 0; i < 4; i++) {
    const reply = await request('retry.test');
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'live');
  }
});

test('with only dead endpoints the answer is 502', async () => {
  register(subjects.routerRegister, 'dead.test', { port: await freePort() });
  register(subjects.routerRegister, 'dead.test', { port: await freePort() });
  await waitFor('the registrations', () => poolSize('dead.test') === 2);
  const reply = await request('dead.test');
  assert.equal(reply.status, 502);
  assert.equal(reply.headers['x-nap-router-error'], 'endpoint_failure');
});

test('a request with a body is not replayed on another endpoint', async () => {
  const echo = await startBackend('echo');
  // Registered dead first: the pool's first turn goes to it.
  register(subjects.routerRegister, 'post.test', { port: await freePort() });
  await waitFor('the dead registration', () => poolSize('post.test') === 1);
  register(subjects.routerRegister, 'post.test', echo);
  await waitFor('the live registration', () => poolSize('post.test') === 2);
  const statuses = [];
  for (let i = 0; i < 2; i++) statuses.push((await send('POST', 'post.test', 'payload')).status);
  assert.deepEqual(statuses, [502, 200]);
});

test('an app dying mid-response cuts the client off without hurting the router', async () => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial');
    setTimeout(() => res.destroy(), 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  backends.push({ name: 'dying', port: (server.address() as AddressInfo).port, server });
  register(subjects.routerRegister, 'dying.test', { port: (server.address() as AddressInfo).port, name: 'dying' });
  await waitFor('the registration', () => poolSize('dying.test') === 1);
  await assert.rejects(request('dying.test'));
  assert.equal((await request('app.test')).body, 'two');
});

test('malformed registrations are dropped and the router keeps working', async () => {
  const good = await startBackend('good');
  bus.nc.publish(subjects.routerRegister, JSON.stringify({ port: 'x' }));
  bus.nc.publish(subjects.routerRegister, 'this is not json');
  bus.nc.publish(subjects.routerRegister, JSON.stringify({ host: '127.0.0.1', port: 70000, uris: ['bad.test'] }));
  // Same connection, so this one arrives after the bad ones: once it is in, they were handled.
  register(subjects.routerRegister, 'good.test', good);
  await waitFor('the good registration', () => poolSize('good.test') === 1);
  assert.equal(router.table.lookup('bad.test'), undefined);
  assert.equal((await request('good.test')).body, 'good');
  assert.equal((await request('app.test')).body, 'two');
});

test('router.greet is answered with router.start', async () => {
  let reply: msg.RouterStart | undefined;
  await bus.requestMany(subjects.routerGreet, msg.Empty, {}, msg.RouterStart, (r) => ((reply = r), true), 2000);
  assert.equal(reply?.id, router.id);
  assert.equal(reply?.minimumRegisterIntervalInSeconds, 20);
  assert.equal(reply?.pruneThresholdInSeconds, 120);
});

test('a client that gives up mid-request does not hurt the router', async () => {
  const slow = await startBackend('slow', 300);
  register(subjects.routerRegister, 'slow.test', slow);
  await waitFor('the registration', () => poolSize('slow.test') === 1);
  await new Promise<void>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: routerPort, headers: { host: 'slow.test' }, agent: false });
    req.on('error', () => resolve());
    req.end();
    setTimeout(() => (req.destroy(), resolve()), 50);
  });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal((await request('slow.test')).body, 'slow');
  assert.equal((await request('app.test')).body, 'two');
});

test('the status port reports health and the route table', async () => {
  const health = await request('localhost', '/healthz', statusPort);
  assert.equal(health.status, 200);
  assert.equal(health.body, 'ok');
  const routes = JSON.parse((await request('localhost', '/routes', statusPort)).body);
  assert.deepEqual(
    routes['app.test'].map((e: { port: number }) => e.port),
    [backends.find((b) => b.name === 'two')!.port],
  );
});
