import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Bus, connectEtcd, createLogger, Etcd3, JetStreamBlobstore, keys, loadSettings, type EngineClient } from '@nap/common';
import { connect, type NatsConnection } from 'nats';
import { startEngines, type Engines } from '../src/engines.js';

let engines: Engines;
const clients: Etcd3[] = [];

function etcdAs(client: EngineClient): Etcd3 {
  const etcd = connectEtcd(loadSettings({ ...engines.envOf[client], NAP_LOG_LEVEL: 'silent' }));
  clients.push(etcd);
  return etcd;
}

/** What an attacker gets back from an etcd call: the value, or the error's message. */
async function attempt<T>(call: () => PromiseLike<T>): Promise<{ value?: T; error?: string }> {
  try {
    return { value: await call() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

before(async () => {
  engines = await startEngines();
  const controller = etcdAs('controller');
  await controller.put(keys.app('victim')).value(JSON.stringify({ name: 'victim', env: { SECRET: 'tenant-secret' } }));
  await controller.put(keys.route('victim.nap.localhost')).value('app-id-1');
  await controller.put(keys.user('alice')).value('{"name":"alice","admin":false}');
});

after(async () => {
  for (const c of clients) c.close();
  await engines?.stop();
});

describe('etcd with auth on', () => {
  test('a client without credentials is refused and reads no key', async () => {
    const anonymous = new Etcd3({ hosts: engines.etcdUrl, dialTimeout: 3000 });
    clients.push(anonymous);
    const read = await attempt(() => anonymous.getAll().prefix('/nap/').strings());
    assert.equal(read.value, undefined);
    assert.match(read.error ?? '', /user name is empty|permission denied/);
    const write = await attempt(() => anonymous.put(keys.token('f'.repeat(64))).value('alice'));
    assert.match(write.error ?? '', /user name is empty|permission denied/);
    assert.equal(await etcdAs('controller').get(keys.token('f'.repeat(64))).string(), null);
  });

  test("the JSON gateway (an app's one POST) answers with an error and no key", async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const res = await fetch(`${engines.etcdUrl}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: b64('/nap/'), range_end: b64('/nap0') }),
    });
    const body = await res.text();
    assert.notEqual(res.status, 200, body);
    assert.doesNotMatch(body, /kvs/);
    assert.doesNotMatch(body, new RegExp(b64('/nap/apps/victim').slice(0, 12)));
    const put = await fetch(`${engines.etcdUrl}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64(keys.token('e'.repeat(64))), value: b64('alice') }) });
    assert.notEqual(put.status, 200);
    assert.equal(await etcdAs('controller').get(keys.token('e'.repeat(64))).string(), null);
  });

  test("the DEA's user writes its leased records and reads actual state, and nothing of users, tokens or apps", async () => {
    const dea = etcdAs('dea');
    const lease = dea.lease(10);
    await lease.put(keys.dea('dea-1')).value('{"id":"dea-1"}');
    await lease.put(keys.actualInstance('app-id-1', 'i-1')).value('{"state":"RUNNING"}');
    assert.deepEqual(Object.keys(await dea.getAll().prefix(keys.actualInstancesOf('app-id-1')).strings()), [keys.actualInstance('app-id-1', 'i-1')]);
    assert.deepEqual(await dea.getAll().prefix(keys.deas()).keys(), [keys.dea('dea-1')]);
    await dea.delete().key(keys.actualInstance('app-id-1', 'i-1'));
    await lease.revoke();
    assert.equal(await dea.get(keys.dea('dea-1')).string(), null, 'revoking its lease took its record');

    const controller = etcdAs('controller');
    for (const key of [keys.user('mallory'), keys.token('a'.repeat(64)), keys.app('victim'), keys.route('victim.nap.localhost')]) {
      const write = await attempt(() => dea.put(key).value('{"name":"mallory","admin":true}'));
      assert.match(write.error ?? '', /permission denied/, key);
    }
    assert.equal(await controller.get(keys.user('mallory')).string(), null);
    assert.equal(await controller.get(keys.token('a'.repeat(64))).string(), null);
    assert.match((await controller.get(keys.app('victim')).string()) ?? '', /tenant-secret/, 'the app is as it was');
    for (const prefix of [keys.apps(), keys.users(), '/nap/tokens/', '/nap/']) {
      const read = await attempt(() => dea.getAll().prefix(prefix).strings());
      assert.equal(read.value, undefined, prefix);
      assert.match(read.error ?? '', /permission denied/);
    }
  });

  test("the router's user only reads claimed routes", async () => {
    const router = etcdAs('router');
    assert.deepEqual(await router.getAll().prefix(keys.routes()).strings(), { [keys.route('victim.nap.localhost')]: 'app-id-1' });
    const watch = await router.watch().prefix(keys.routes()).create();
    await watch.cancel();
    const write = await attempt(() => router.put(keys.route('evil.nap.localhost')).value('app-id-2'));
    assert.match(write.error ?? '', /permission denied/);
    const del = await attempt(() => router.delete().key(keys.route('victim.nap.localhost')));
    assert.match(del.error ?? '', /permission denied/);
    for (const prefix of [keys.apps(), keys.users(), keys.actualInstances()]) {
      const read = await attempt(() => router.getAll().prefix(prefix).strings());
      assert.equal(read.value, undefined, prefix);
    }
    assert.equal(await etcdAs('controller').get(keys.route('victim.nap.localhost')).string(), 'app-id-1');
  });

  test('the controller keeps working across an etcd restart: calls, watches, leases and elections log in again', async () => {
    const controller = etcdAs('controller');
    const dea = etcdAs('dea');
    const seen: string[] = [];
    const watcher = await controller.watch().prefix(keys.apps()).create();
    watcher.on('put', (kv) => seen.push(kv.key.toString()));
    const campaign = controller.election('auth-test', 5).campaign('me');
    await new Promise<void>((resolve, reject) => {
      campaign.on('elected', () => resolve());
      campaign.on('error', reject);
    });
    const lease = dea.lease(5);
    await lease.put(keys.dea('dea-2')).value('{}');

    await engines.restartEtcd();

    // Unary calls: the client logs in again when etcd says its token is not valid any more.
    await controller.put(keys.app('after-restart')).value('{}');
    assert.equal(await controller.get(keys.app('after-restart')).string(), '{}');
    await dea.put(keys.actualInstance('app-id-1', 'i-2')).value('{}');
    // The watch made before the restart still reports.
    await controller.put(keys.app('after-restart-2')).value('{}');
    await waitFor(() => seen.includes(keys.app('after-restart-2')), 'the watch to report a put after the restart');
    // A lease (the DEA's) still works: a new one if the old was lost.
    const again = dea.lease(5);
    await again.put(keys.dea('dea-3')).value('{}');
    assert.equal(await controller.get(keys.dea('dea-3')).string(), '{}');
    await again.revoke();
    await lease.revoke().catch(() => {});
    await campaign.resign().catch(() => {});
    await watcher.cancel();
  });
});

async function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('NATS with a user per program', () => {
  const conns: NatsConnection[] = [];
  const natsAs = async (client: EngineClient) => {
    const env = engines.envOf[client];
    const nc = await connect({ servers: engines.natsUrl, user: env.NAP_NATS_USER, pass: env.NAP_NATS_PASSWORD });
    conns.push(nc);
    return nc;
  };
  const observer = async () => {
    const nc = await connect({ servers: engines.natsUrl, user: engines.natsUser, pass: engines.natsPassword });
    conns.push(nc);
    return nc;
  };
  /** The permission errors the server sent this connection, as `operation subject` (a violation leaves it open). */
  const errorsOf = (nc: NatsConnection) => {
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error') errors.push(`${s.data} ${s.permissionContext?.operation} ${s.permissionContext?.subject}`);
      }
    })();
    return errors;
  };

  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
  });

  test('a connection without credentials, or with a wrong password, is refused', async () => {
    await assert.rejects(connect({ servers: engines.natsUrl, reconnect: false }), /Authorization Violation/i);
    await assert.rejects(connect({ servers: engines.natsUrl, user: 'dea', pass: 'guess', reconnect: false }), /Authorization Violation/i);
  });

  /**
   * Publishes `forbidden` then `allowed` from one connection: messages of one connection arrive in
   * order, so once `allowed` is in, `forbidden` would have arrived before it if it ever could.
   */
  async function tryPublish(client: EngineClient, forbidden: string, allowed: string): Promise<{ received: string[]; errors: string[] }> {
    const watcher = await observer();
    const received: string[] = [];
    watcher.subscribe(forbidden, { callback: (_e, m) => received.push(m.subject) });
    watcher.subscribe(allowed, { callback: (_e, m) => received.push(m.subject) });
    await watcher.flush();
    const nc = await natsAs(client);
    const errors = errorsOf(nc);
    nc.publish(forbidden, JSON.stringify({ app_id: 'victim', env: {} }));
    nc.publish(allowed, '{}');
    await nc.flush();
    await waitFor(() => received.includes(allowed) && errors.length > 0, `${allowed} to arrive and the violation to be reported`);
    return { received, errors };
  }

  test('the DEA user cannot send a start: the subscriber never gets it, the DEA is told why', async () => {
    const { received, errors } = await tryPublish('dea', 'dea.x.start', 'dea.advertise');
    assert.deepEqual(received, ['dea.advertise']);
    assert.deepEqual(errors, ['PERMISSIONS_VIOLATION publish dea.x.start']);
  });

  test('the router user cannot announce routes', async () => {
    const { received, errors } = await tryPublish('router', 'router.register', 'router.start');
    assert.deepEqual(received, ['router.start']);
    assert.deepEqual(errors, ['PERMISSIONS_VIOLATION publish router.register']);
  });

  test("the router user cannot listen to start messages (they carry apps' env)", async () => {
    const nc = await natsAs('router');
    const errors = errorsOf(nc);
    const got: string[] = [];
    const refusals: string[] = [];
    nc.subscribe('dea.*.start', { callback: (e, m) => (e ? refusals.push(e.code) : got.push(m.subject)) });
    await nc.flush();
    const controller = await natsAs('controller');
    controller.publish('dea.x.start', '{}');
    await controller.flush();
    await waitFor(() => errors.length > 0, 'the violation to be reported');
    assert.deepEqual(errors, ['PERMISSIONS_VIOLATION subscription dea.*.start']);
    assert.deepEqual(refusals, ['PERMISSIONS_VIOLATION'], 'the subscription is told it was refused');
    assert.deepEqual(got, []);
  });

  test("a DEA's router.greet gets the router's answer (allow_responses), and the router still cannot publish on an inbox of its own choosing", async () => {
    const router = await natsAs('router');
    const errors = errorsOf(router);
    router.subscribe('router.greet', { callback: (_e, m) => m.respond(JSON.stringify({ id: 'router-1' })) });
    await router.flush();
    const dea = await natsAs('dea');
    const reply = await dea.request('router.greet', '{}', { timeout: 5000 });
    assert.deepEqual(JSON.parse(Buffer.from(reply.data).toString()), { id: 'router-1' });
    const watcher = await observer();
    const got: string[] = [];
    watcher.subscribe('_INBOX.forged', { callback: (_e, m) => got.push(m.subject) });
    await watcher.flush();
    router.publish('_INBOX.forged', '{}');
    await router.flush();
    await waitFor(() => errors.length > 0, 'the violation to be reported');
    assert.deepEqual(errors, ['PERMISSIONS_VIOLATION publish _INBOX.forged']);
    assert.deepEqual(got, []);
  });

  test('the controller and the DEA use the blobstore; the router cannot', async () => {
    const file = join(engines.dir, 'blob.bin');
    // Several megabytes: an object store read of that size goes through flow control.
    await writeFile(file, randomBytes(6 * 1024 * 1024));
    const log = createLogger('test', 'silent');
    const busOf = (client: EngineClient) => Bus.connect(loadSettings({ ...engines.envOf[client], NAP_LOG_LEVEL: 'silent' }), { name: client, log });
    const controller = await busOf('controller');
    const dea = await busOf('dea');
    try {
      const fromController = await JetStreamBlobstore.open(controller);
      await fromController.putFile('packages/a/1.tgz', file);
      const fromDea = await JetStreamBlobstore.open(dea);
      assert.ok(await fromDea.getFile('packages/a/1.tgz', join(engines.dir, 'copy.bin')));
      await fromDea.putFile('droplets/a/1.tgz', file);
      await fromDea.putFile('droplets/a/1.tgz', file); // a second put replaces (purges the old chunks)
      assert.deepEqual(await fromController.list('droplets/'), ['droplets/a/1.tgz']);
      assert.equal((await fromController.stat('droplets/a/1.tgz'))?.size, 6 * 1024 * 1024);
      await fromController.delete('droplets/a/1.tgz');
      assert.equal(await fromDea.has('droplets/a/1.tgz'), false);
      const router = await busOf('router');
      try {
        await assert.rejects(JetStreamBlobstore.open(router));
      } finally {
        await router.close();
      }
    } finally {
      await controller.close();
      await dea.close();
    }
  });
});
