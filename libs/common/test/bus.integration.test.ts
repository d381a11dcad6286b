import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZodError } from 'zod';
import { Bus, NoAnswerError } from '../src/bus/bus.js';
import * as msg from '../src/bus/schemas.js';
import { subjects } from '../src/bus/subjects.js';
import { channel, channels } from '../src/bus/channels.js';
import { JetStreamBlobstore } from '../src/blobstore.js';
import { blobKeys } from '../src/keys.js';
import { createLogger } from '../src/log.js';
import { freePort, isAlive, natsServerArgs, spawnDetached, stopPid, waitForPort } from '../src/processes.js';
import { loadSettings } from '../src/settings.js';

let dir: string;
let pid: number | undefined;
let bus: Bus;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `cond()` holds; fails the test after `ms`. */
async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

let subjectCount = 0;
/** A subject of its own for each test, so one test's messages never reach another's handler. */
const fresh = (base: string) => `${base}.t${++subjectCount}`;

const register = (port: number): msg.RouterRegister => ({ host: '127.0.0.1', port, uris: ['hello.nap.localhost'], app: 'hello', private_instance_id: 'i-1' });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nap-bus-'));
  const port = await freePort();
  const auth = { user: 'nap', password: randomBytes(12).toString('hex') };
  pid = spawnDetached('nats-server', natsServerArgs({ port, storeDir: join(dir, 'js'), configFile: join(dir, 'nats.conf'), ...auth }), { logFile: join(dir, 'nats.log') });
  const up = await waitForPort('127.0.0.1', port, 15_000, () => isAlive(pid as number));
  assert.ok(up, `nats-server did not start:\n${existsSync(join(dir, 'nats.log')) ? readFileSync(join(dir, 'nats.log'), 'utf8') : ''}`);
  bus = await Bus.connect(
    loadSettings({ NAP_NATS_URL: `nats://127.0.0.1:${port}`, NAP_NATS_USER: auth.user, NAP_NATS_PASSWORD: auth.password, NAP_LOG_LEVEL: 'silent' }),
    { name: 'test', log: createLogger('test', 'silent') },
  );
});

after(async () => {
  await bus?.close();
  if (pid !== undefined) await stopPid(pid);
  rmSync(dir, { recursive: true, force: true });
});

describe('Bus.subscribe', () => {
  test('a handler receives a valid message, parsed by its schema', async () => {
    const got: msg.RouterRegister[] = [];
    const sub = bus.subscribe(channels.routerRegister, (body) => {
      got.push(body);
    });
    await bus.flush();
    bus.publish(channels.routerRegister, register(61001));
    await waitFor(() => got.length === 1, 'the message');
    assert.deepEqual(got[0], register(61001));
    sub.unsubscribe();
  });

  test('malformed messages are dropped and later valid ones still arrive', async () => {
    const subject = fresh(subjects.routerRegister);
    const on = channel(subject, msg.RouterRegister);
    const got: msg.RouterRegister[] = [];
    bus.subscribe(on, (body) => {
      got.push(body);
    });
    await bus.flush();
    const { uris: _uris, ...withoutUris } = register(61002);
    bus.nc.publish(subject, Buffer.from('{not json'));
    bus.nc.publish(subject, Buffer.from([0xff, 0xfe, 0x00]));
    bus.nc.publish(subject, JSON.stringify({ ...register(61002), port: 'x' }));
    bus.nc.publish(subject, JSON.stringify(withoutUris));
    bus.nc.publish(subject, JSON.stringify([register(61002)]));
    bus.nc.publish(subject); // empty body
    bus.nc.publish(subject, JSON.stringify(register(61003)));
    await waitFor(() => got.length >= 1, 'the valid message');
    await bus.flush();
    await sleep(100);
    assert.deepEqual(got, [register(61003)], 'only the valid message reached the handler');
  });

  test('a handler that throws, or rejects, does not stop later deliveries', async () => {
    const subject = fresh(subjects.routerRegister);
    const on = channel(subject, msg.RouterRegister);
    const seen: number[] = [];
    bus.subscribe(on, async (body) => {
      seen.push(body.port);
      if (body.port === 61004) throw new Error('handler blew up');
      if (body.port === 61005) await Promise.reject(new Error('async handler blew up'));
    });
    await bus.flush();
    for (const port of [61004, 61005, 61006]) bus.publish(on, register(port));
    await waitFor(() => seen.length === 3, 'all three deliveries');
    assert.deepEqual(seen, [61004, 61005, 61006]);
  });
});

describe('Bus.publish', () => {
  test('an invalid body throws before anything is sent', async () => {
    const subject = fresh(subjects.routerRegister);
    const on = channel(subject, msg.RouterRegister);
    const raw: string[] = [];
    bus.nc.subscribe(subject, { callback: (_err, m) => raw.push(Buffer.from(m.data).toString()) });
    await bus.flush();
    assert.throws(() => bus.publish(on, { ...register(61007), port: 'x' } as unknown as msg.RouterRegister), ZodError);
    assert.throws(() => bus.publish(on, { ...register(61007), uris: [] }), ZodError);
    bus.publish(on, register(61008));
    await waitFor(() => raw.length >= 1, 'the valid message');
    await bus.flush();
    await sleep(100);
    assert.equal(raw.length, 1);
    assert.deepEqual(JSON.parse(raw[0]), register(61008));
  });
});

describe('Bus.requestMany', () => {
  const APP = randomUUID();
  const TASKS = { 'task-1': randomUUID(), 'task-2': randomUUID(), 'task-3': randomUUID() } as Record<string, string>;
  const start = (taskId: string): msg.StagingStart => ({
    task_id: taskId,
    app_id: APP,
    app_name: 'hello',
    package_key: `packages/${APP}/${'a'.repeat(64)}.tgz`,
    package_hash: 'a'.repeat(64),
    env: {},
    memory_mb: 256,
  });
  const accepted = (taskId: string): msg.StagingAccepted => ({ task_id: taskId, log_url: `http://127.0.0.1:9024/staging_tasks/${taskId}?path=staging.log` });
  const succeeded = (taskId: string): msg.StagingSucceeded => ({
    task_id: taskId,
    droplet_key: `droplets/${APP}/${'b'.repeat(64)}.tgz`,
    droplet_hash: 'b'.repeat(64),
    detected_buildpack: 'node',
    start_command: 'node server.js',
    process_types: { web: 'node server.js' },
    droplet_type: 'tgz',
  });

  test('gets accepted then result and resolves when onReply says done', async () => {
    const on = channels.stagingStart(`dea${++subjectCount}`);
    const subject = on.subject;
    bus.subscribe(on, (body, m) => {
      bus.reply(on, m, accepted(body.task_id));
      bus.nc.publish(m.reply as string, Buffer.from('garbage between the replies'));
      setTimeout(() => {
        bus.reply(on, m, succeeded(body.task_id));
        bus.reply(on, m, accepted(body.task_id)); // after the result: must not be seen
      }, 150);
    });
    await bus.flush();
    const replies: msg.StagingReply[] = [];
    let resolvedWith = -1;
    await bus.requestMany(on, start(TASKS['task-1']), (r) => {
      replies.push(r);
      return 'droplet_key' in r || 'error' in r;
    }, 5000).then(() => (resolvedWith = replies.length));
    assert.equal(resolvedWith, 2);
    assert.deepEqual(replies[0], accepted(TASKS['task-1']));
    assert.deepEqual(replies[1], succeeded(TASKS['task-1']));
    await bus.flush();
    await sleep(150);
    assert.equal(replies.length, 2, 'no reply is taken after the one that finished');
  });

  test('a subject nobody listens on is a NoAnswerError at once (nats-server says so), not after the timeout', async () => {
    const on = channels.stagingStart('nobody-listens');
    const t0 = Date.now();
    await assert.rejects(bus.requestMany(on, start(TASKS['task-2']), () => true, 60_000, 30_000), (e: Error) => e instanceof NoAnswerError && e.message.includes(on.subject));
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  });

  test('a listener that sends only garbage is no answer: the first-answer timer still runs, naming the subject', async () => {
    const on = channels.stagingStart(`dea${++subjectCount}`);
    const sub = bus.subscribe(channel(on.subject, msg.Empty), (_body, m) => void bus.nc.publish(m.reply as string, Buffer.from('garbage')));
    await bus.flush();
    const t0 = Date.now();
    await assert.rejects(bus.requestMany(on, start(TASKS['task-2']), () => true, 60_000, 300), (e: Error) => e instanceof NoAnswerError && e.message.includes(on.subject));
    assert.ok(Date.now() - t0 >= 290, 'not before the first-answer timeout');
    sub.unsubscribe();
  });

  test('rejects with the error onReply throws', async () => {
    const on = channels.stagingStart(`dea${++subjectCount}`);
    const subject = on.subject;
    bus.subscribe(on, (body, m) => bus.reply(on, m, accepted(body.task_id)));
    await bus.flush();
    await assert.rejects(
      bus.requestMany(on, start(TASKS['task-3']), () => {
        throw new Error('caller refused the reply');
      }, 5000),
      /caller refused the reply/,
    );
  });

  test('an invalid request body rejects at once, sends nothing and leaves no timer behind', async () => {
    const on = channels.stagingStart(`dea${++subjectCount}`);
    const subject = on.subject;
    const raw: unknown[] = [];
    bus.nc.subscribe(subject, { callback: (_err, m) => raw.push(m) });
    await bus.flush();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const t0 = Date.now();
    await assert.rejects(bus.requestMany(on, { ...start('t'), app_id: 'not-a-uuid' }, () => true, 60_000), ZodError);
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(timers(), before, 'the 60 s timeout was not armed');
    await bus.flush();
    await sleep(100);
    assert.equal(raw.length, 0);
  });
});

describe('JetStreamBlobstore', () => {
  let store: JetStreamBlobstore;
  const key = blobKeys.package(randomUUID(), 'f'.repeat(64));
  let source: string;

  before(async () => {
    store = await JetStreamBlobstore.open(bus);
    source = join(dir, 'blob.bin');
    writeFileSync(source, randomBytes(1024 * 1024));
  });

  test('put, has, get, list and delete a 1 MB file', async () => {
    assert.equal(await store.has(key), false);
    await store.putFile(key, source);
    assert.equal(await store.has(key), true);

    const copy = join(dir, 'out', 'nested', 'copy.bin');
    assert.equal(await store.getFile(key, copy), true);
    assert.ok(readFileSync(copy).equals(readFileSync(source)), 'identical bytes');

    const prefix = key.slice(0, key.lastIndexOf('/') + 1);
    assert.deepEqual(await store.list(prefix), [key]);
    assert.ok((await store.list('packages/')).includes(key));
    assert.deepEqual(await store.list('droplets/no-such-app/'), []);

    await store.delete(key);
    assert.equal(await store.has(key), false);
    assert.deepEqual(await store.list(prefix), []);
    await store.delete(key); // deleting twice is fine
  });

  test('getFile of a missing key returns false and writes nothing', async () => {
    const target = join(dir, 'missing.bin');
    assert.equal(await store.getFile('packages/none/none.tgz', target), false);
    assert.equal(existsSync(target), false);
  });

  test('putFile over an existing key replaces it', async () => {
    const k = blobKeys.buildCache(randomUUID());
    const second = join(dir, 'second.bin');
    writeFileSync(second, 'the second version');
    await store.putFile(k, source);
    await store.putFile(k, second);
    const out = join(dir, 'replaced.bin');
    assert.equal(await store.getFile(k, out), true);
    assert.equal(readFileSync(out, 'utf8'), 'the second version');
    assert.deepEqual(await store.list(k), [k]);
    await store.delete(k);
  });
});
