import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { channels, msg, subjects } from '@nap/common';
import { startRouter } from '../src/router.js';
import { answerName, Harness } from './support/harness.js';
import { freePort, waitFor } from './support/processes.js';

let h: Harness;

before(async () => {
  h = await Harness.start();
});

after(async () => {
  await h?.stop();
});

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('requests for one host alternate between its two endpoints', async () => {
  const [one, two] = [await h.backend('one'), await h.backend('two')];
  h.register('app.test', one);
  h.register('App.Test', two);
  await waitFor('both registrations', () => h.poolSize('app.test') === 2);

  const bodies = [];
  for (let i = 0; i < 6; i++) bodies.push((await h.request('app.test')).body);
  assert.deepEqual(new Set(bodies), new Set(['one', 'two']));
  for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1]);
});

test('the app sees forwarding headers and one request id under both names', async () => {
  const reply = await h.request(`app.test:${h.routerPort}`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
  assert.equal(reply.status, 200);
  const seen = h.backends.find((b) => b.name === reply.body)!.requests.at(-1)!.headers;
  assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], `app.test:${h.routerPort}`);
  assert.match(String(seen['x-request-id']), uuid);
  assert.equal(seen['x-vcap-request-id'], seen['x-request-id']);
  assert.equal(seen.host, `app.test:${h.routerPort}`);
});

test("a client's valid uuid is kept as the request id, anything else replaced", async () => {
  const lastSeen = async (headers: http.OutgoingHttpHeaders) => {
    const reply = await h.request('app.test', { headers });
    return h.backends.find((b) => b.name === reply.body)!.requests.at(-1)!.headers;
  };
  const mine = '0b4c5e9a-6f1d-4c3e-9a8b-7d6e5f4a3b2c';
  let seen = await lastSeen({ 'x-vcap-request-id': mine });
  assert.equal(seen['x-vcap-request-id'], mine);
  assert.equal(seen['x-request-id'], mine);
  seen = await lastSeen({ 'x-request-id': mine.toUpperCase() });
  assert.equal(seen['x-vcap-request-id'], mine);
  seen = await lastSeen({ 'x-vcap-request-id': 'not-a-uuid" forged', 'x-request-id': '1234' });
  assert.match(String(seen['x-vcap-request-id']), uuid);
  assert.notEqual(seen['x-vcap-request-id'], mine);
  assert.equal(seen['x-request-id'], seen['x-vcap-request-id']);
  // A client that already names a forwarded host and protocol (a load balancer in front) keeps them.
  seen = await lastSeen({ 'x-forwarded-host': 'public.example', 'x-forwarded-proto': 'https' });
  assert.equal(seen['x-forwarded-host'], 'public.example');
  assert.equal(seen['x-forwarded-proto'], 'https');
});

test('an unknown host gets 404 unknown_route naming it', async () => {
  const reply = await h.request('Nope.Nap.Localhost:8080');
  assert.equal(reply.status, 404);
  assert.equal(reply.headers['x-nap-router-error'], 'unknown_route');
  assert.match(reply.body, /Requested route \('nope\.nap\.localhost'\) does not exist/);
});

test('a request without a Host header gets 400 empty_host', async () => {
  const reply = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(h.routerPort, '127.0.0.1', () => sock.write('GET / HTTP/1.0\r\n\r\n'));
    let data = '';
    sock.on('data', (c: Buffer) => (data += c.toString()));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
  assert.match(reply, /^HTTP\/1\.1 400/);
  assert.match(reply, /x-nap-router-error: empty_host/i);
});

test('after router.unregister only the other endpoint answers', async () => {
  const one = h.backends.find((b) => b.name === 'one')!;
  h.unregister('app.test', one);
  await waitFor('the unregistration', () => h.poolSize('app.test') === 1);
  for (let i = 0; i < 4; i++) assert.equal((await h.request('app.test')).body, 'two');
});

test('a lost instance (the health manager says so): its request in flight goes to another instance at once; a plain unregister lets it finish', async () => {
  const waiting: (() => void)[] = [];
  const hangs = (name: string) => h.backend(name, (_req, res, b) => waiting.push(() => res.end(b.name)));
  const lost = await hangs('lost');
  const live = await h.backend('live-after-loss');
  await h.route('lost.test', lost);
  const reply = h.request('lost.test');
  await waitFor('the request on the lost instance', () => lost.requests.length === 1);
  await h.route('lost.test', live);
  h.unregister('lost.test', lost, { lost: true });
  const answer = await reply;
  assert.equal(answer.status, 200);
  assert.equal(answer.body, 'live-after-loss');

  // A DEA withdrawing a route before it stops the instance: what is on the way finishes there.
  const leaving = await hangs('leaving');
  await h.route('lost.test', leaving);
  h.unregister('lost.test', live);
  await waitFor('only the leaving instance', () => h.poolSize('lost.test') === 1);
  const second = h.request('lost.test');
  await waitFor('the request on the leaving instance', () => leaving.requests.length === 1);
  h.unregister('lost.test', leaving);
  await waitFor('the unregistration', () => h.poolSize('lost.test') === 0);
  waiting.at(-1)!();
  const finished = await second;
  assert.equal(finished.status, 200);
  assert.equal(finished.body, 'leaving');
});

test('a wildcard route answers for subdomains; an exact route beats it', async () => {
  const wild = await h.backend('wild');
  const exact = await h.backend('exact');
  await h.route('*.wild.test', wild);
  await h.route('www.wild.test', exact);
  assert.equal((await h.request('a.wild.test')).body, 'wild');
  assert.equal((await h.request('A.B.Wild.Test:80')).body, 'wild');
  assert.equal((await h.request('www.wild.test')).body, 'exact');
  assert.equal((await h.request('wild.test')).status, 404);
});

test('a dead instance is retried on a live one without the client seeing an error, and marked failing', async () => {
  const live = await h.backend('live');
  const deadPort = await freePort();
  await h.route('retry.test', { port: deadPort }, live);
  for (let i = 0; i < 4; i++) {
    const reply = await h.request('retry.test');
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'live');
  }
  const dead = h.router.table.lookup('retry.test')!.endpoints.find((e) => e.port === deadPort)!;
  assert.equal(dead.address.failing, true);
  // Marked: later requests do not even try it.
  const before = h.router.metrics.snapshot().requests;
  for (let i = 0; i < 4; i++) assert.equal((await h.request('retry.test')).body, 'live');
  assert.equal(h.router.metrics.snapshot().requests - before, 4);
  // A new registration clears the mark.
  h.register('retry.test', { port: deadPort });
  await waitFor('the mark cleared', () => !dead.address.failing);
});

test('with only dead endpoints: 502 endpoint_failure, then 503 no_endpoints until they register again', async () => {
  const ports = [await freePort(), await freePort()];
  await h.route('dead.test', ...ports.map((port) => ({ port })));
  const first = await h.request('dead.test');
  assert.equal(first.status, 502);
  assert.equal(first.headers['x-nap-router-error'], 'endpoint_failure');
  assert.match(String(first.headers['x-vcap-request-id']), uuid);
  const second = await h.request('dead.test');
  assert.equal(second.status, 503);
  assert.equal(second.headers['x-nap-router-error'], 'no_endpoints');
  const addresses = h.router.table.lookup('dead.test')!.endpoints.map((e) => e.address);
  for (const port of ports) h.register('dead.test', { port });
  await waitFor('the marks cleared', () => addresses.every((a) => !a.failing));
  assert.equal((await h.request('dead.test')).status, 502);
});

test('a request with a body is not replayed on another endpoint after a failed connect', async () => {
  const echo = await h.backend('echo');
  // Registered dead first: the pool's first turn goes to it.
  await h.route('post.test', { port: await freePort() });
  await h.route('post.test', echo);
  const statuses = [];
  for (let i = 0; i < 2; i++) statuses.push((await h.request('post.test', { method: 'POST', body: 'payload' })).status);
  assert.deepEqual(statuses, [502, 200]);
});

test('a POST whose body reached an app that then dropped it is not retried; a GET is', async () => {
  const dropper = await h.backend('dropper', (req) => {
    req.resume();
    req.on('end', () => req.socket.destroy());
  });
  const other = await h.backend('other');
  await h.route('drop.test', dropper, other);
  const post = await h.request('drop.test', { method: 'POST', body: 'x'.repeat(1000) });
  assert.equal(post.status, 502);
  assert.equal(post.headers['x-nap-router-error'], 'endpoint_failure');
  assert.equal(dropper.requests.length, 1);
  assert.equal(other.requests.length, 0, 'the POST must not reach a second app');
  // A reset is not a failed connect: the dropper stays in the pool, and a GET is retried on the other.
  const replies = [await h.request('drop.test'), await h.request('drop.test')];
  assert.deepEqual(
    replies.map((r) => [r.status, r.body]),
    [
      [200, 'other'],
      [200, 'other'],
    ],
  );
  assert.equal(dropper.requests.length, 2);
});

test('an app dying mid-response cuts the client off without hurting the router', async () => {
  const dying = await h.backend('dying', (_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial');
    setTimeout(() => res.destroy(), 20);
  });
  await h.route('dying.test', dying);
  await assert.rejects(h.request('dying.test'));
  assert.equal((await h.request('app.test')).body, 'two');
});

test('sticky sessions: JSESSIONID brings __VCAP_ID__, which brings the client back to its instance', async () => {
  const session: (name: string) => Parameters<Harness['backend']>[1] = () => (req, res, b) => {
    if (req.url === '/login') res.setHeader('set-cookie', ['theme=dark', 'JSESSIONID=abc123; Path=/shop; Max-Age=600; HttpOnly']);
    res.end(b.name);
  };
  const s1 = await h.backend('s1', session('s1'));
  const s2 = await h.backend('s2', session('s2'));
  h.register('sticky.test', { ...s1, instanceId: 'inst-s1' });
  h.register('sticky.test', { ...s2, instanceId: 'inst-s2' });
  await waitFor('both', () => h.poolSize('sticky.test') === 2);

  const login = await h.request('sticky.test', { path: '/login' });
  const cookies = login.headers['set-cookie']!;
  assert.equal(cookies.length, 3);
  assert.ok(cookies.includes('theme=dark'));
  const vcap = cookies.find((c) => c.startsWith('__VCAP_ID__='))!;
  assert.equal(vcap, `__VCAP_ID__=inst-${login.body}; Path=/shop; Max-Age=600; HttpOnly`);

  // Without the cookie, round robin; with it, always the same instance.
  for (let i = 0; i < 6; i++) {
    const r = await h.request('sticky.test', { headers: { cookie: `JSESSIONID=abc123; __VCAP_ID__=inst-${login.body}` } });
    assert.equal(r.body, login.body);
    assert.equal(r.headers['set-cookie'], undefined);
  }
  // A response without JSESSIONID gets no __VCAP_ID__.
  assert.equal((await h.request('sticky.test')).headers['set-cookie'], undefined);

  // The instance goes away: the request falls back to round robin and the new instance is named.
  const gone = login.body === 's1' ? s1 : s2;
  const stays = gone === s1 ? s2 : s1;
  h.unregister('sticky.test', { ...gone, instanceId: `inst-${gone.name}` });
  await waitFor('the unregistration', () => h.poolSize('sticky.test') === 1);
  const moved = await h.request('sticky.test', { headers: { cookie: `JSESSIONID=abc123; __VCAP_ID__=inst-${gone.name}` } });
  assert.equal(moved.body, stays.name);
  assert.deepEqual(moved.headers['set-cookie'], [`__VCAP_ID__=inst-${stays.name}; Path=/; HttpOnly`]);
});

test('malformed registrations are dropped and the router keeps working', async () => {
  const good = await h.backend('good');
  h.bus.nc.publish(subjects.routerRegister, JSON.stringify({ port: 'x' }));
  h.bus.nc.publish(subjects.routerRegister, 'this is not json');
  h.bus.nc.publish(subjects.routerRegister, JSON.stringify({ host: '127.0.0.1', port: 70000, uris: ['bad.test'] }));
  // Same connection, so this one arrives after the bad ones: once it is in, they were handled.
  h.register('good.test', good);
  await waitFor('the good registration', () => h.poolSize('good.test') === 1);
  assert.equal(h.router.table.lookup('bad.test'), undefined);
  assert.equal((await h.request('good.test')).body, 'good');
  assert.equal((await h.request('app.test')).body, 'two');
});

test('router.greet is answered with router.start', async () => {
  let reply: msg.RouterStart | undefined;
  reply = await h.bus.request(channels.routerGreet, {}, 2000);
  assert.equal(reply?.id, h.router.id);
  assert.equal(reply?.minimumRegisterIntervalInSeconds, 20);
  assert.equal(reply?.pruneThresholdInSeconds, 120);
});

test('a router that starts takes no request before the DEAs answering its router.start are in its table', async () => {
  const late = [await h.backend('late'), await h.backend('late')];
  // A DEA that answers router.start a little late, in two parts, as a busy one does.
  const dea = h.bus.subscribe(channels.routerStart, () => {
    setTimeout(() => h.register('late.test', { port: late[0].port, name: 'late', instanceId: 'late-0' }), 150);
    setTimeout(() => h.register('late.test', { port: late[1].port, name: 'late', instanceId: 'late-1' }), 300);
  });
  await h.bus.flush();
  const port = await freePort();
  const second = await startRouter({ ...h.settings, routerPort: port }, h.log, { listenHost: '127.0.0.1', accessLog: false, claims: false, statusServer: false });
  try {
    // Its very first request: a router that listened at once would have answered 404.
    const first = await h.request('late.test', { port });
    assert.equal(first.status, 200);
    assert.equal(first.body, 'late');
    assert.equal(second.table.lookup('late.test')?.size, 2);
  } finally {
    dea.unsubscribe();
    await second.close();
  }
});

test('requests reuse kept-alive connections to the app', async () => {
  const pooled = await h.backend('pooled');
  let connections = 0;
  pooled.server.on('connection', () => connections++);
  await h.route('pooled.test', pooled);
  for (let i = 0; i < 20; i++) assert.equal((await h.request('pooled.test')).body, 'pooled');
  assert.equal(connections, 1);
});

test('a client that gives up mid-request frees the app connection at once', async () => {
  const slow = await h.backend('slow', answerName(2000));
  await h.route('slow.test', slow);
  let closed = false;
  const req = http.request({ host: '127.0.0.1', port: h.routerPort, headers: { host: 'slow.test' }, agent: false });
  req.on('error', () => {});
  req.end();
  await waitFor('the request to reach the app', () => slow.requests.length === 1);
  slow.requests[0].socket.once('close', () => (closed = true));
  req.destroy();
  await waitFor('the app connection to close', () => closed, 1000);
  assert.equal(h.router.metrics.inFlight, 0);
  assert.equal((await h.request('app.test')).body, 'two');
});
