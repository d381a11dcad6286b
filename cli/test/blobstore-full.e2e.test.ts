import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BLOB_BUCKET, Bus, connectEtcd, createLogger, JetStreamBlobstore, keys, loadSettings } from '@nap/common';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

/** JetStream's store is capped this small, so one upload can fill it. */
const STORE_MB = 32;

/**
 * The blobstore out of room (JetStream's store capped at STORE_MB): a push whose package does not
 * fit is refused with 507 saying what an admin must do, nothing of it is kept, and the app runs on
 * as it was.
 */
describe('the blobstore out of room', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  let bigApp: string;
  const packageOf = async (app: string) => {
    const etcd = connectEtcd(loadSettings({ ...platform.env, ...platform.engines.env, NAP_LOG_LEVEL: 'silent' }));
    try {
      return (JSON.parse((await etcd.get(keys.app(app)).string()) ?? '{}') as { package?: { hash: string } }).package?.hash ?? null;
    } finally {
      etcd.close();
    }
  };
  const blobKeys = async () => {
    const settings = loadSettings({ ...platform.env, NAP_NATS_URL: platform.engines.natsUrl, NAP_NATS_USER: platform.engines.natsUser, NAP_NATS_PASSWORD: platform.engines.natsPassword, NAP_LOG_LEVEL: 'silent' });
    const bus = await Bus.connect(settings, { name: 'blobstore-full-test', log: createLogger('test', 'silent') });
    try {
      const names = (await (await JetStreamBlobstore.open(bus)).list('')).sort();
      // Chunks are messages: a partial upload left behind shows here even with no meta record.
      const { messages } = (await (await bus.nc.jetstreamManager()).streams.info(`OBJ_${BLOB_BUCKET}`)).state;
      return { names, messages };
    } finally {
      await bus.close();
    }
  };

  before(async () => {
    platform = await TestPlatform.start({ engines: { jetstreamMaxMb: STORE_MB } });
    env = platform.cliEnv();
    const push = await nap(['push', 'keeper', '-p', `${repoRoot}examples/hello-static`], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    // Random bytes do not compress: the package is as big as the file.
    bigApp = mkdtempSync(join(tmpdir(), 'nap-big-app-'));
    cpSync(`${repoRoot}examples/hello-static`, bigApp, { recursive: true });
    writeFileSync(join(bigApp, 'big.bin'), randomBytes((STORE_MB + 8) * 1024 * 1024));
  });

  after(async () => {
    await platform?.stop();
    if (bigApp) rmSync(bigApp, { recursive: true, force: true });
  });

  test('a push that does not fit is 507 storage_full, saying what to do; no blob of it is kept and the app is unchanged', async () => {
    const packageBefore = await packageOf('keeper');
    const blobsBefore = await blobKeys();
    const page = (await httpGet(`${platform.routerUrl}/`, { Host: 'keeper.nap.localhost' })).body;

    const push = await nap(['push', 'keeper', '-p', bigApp], env);
    assert.notEqual(push.code, 0, "the push failed");
    assert.match(push.stderr + push.stdout, /the blobstore \(NATS JetStream\) has no room for this upload, so nothing of it was kept and the app is unchanged/);
    assert.match(push.stderr + push.stdout, /delete apps nobody uses|max_file_store/);

    assert.equal(await packageOf('keeper'), packageBefore, "the app's package is the one it had");
    assert.deepEqual(await blobKeys(), blobsBefore, 'no blob was added, not even in part: the same keys and as many messages (chunks) as before');
    const now = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: 'keeper.nap.localhost' });
      return r.status === 200 ? r : null;
    }, 10_000, 'keeper through the router');
    assert.equal(now.body, page, 'the app serves what it served');
  });

  test('the controller lived through it; once nats-server is restarted (as the message says), a push that fits is taken', async () => {
    assert.equal((await httpGet(`${platform.controllerUrl}/healthz`)).status, 200, 'the controller answers');
    // nats-server 2.9 goes on counting a refused upload's purged chunks against its store until it
    // restarts (docs/contract.md §10): even a small push is refused, with the same message.
    await platform.engines.killNats();
    await platform.engines.startNats();
    const push = await eventually(async () => {
      const r = await nap(['push', 'small', '-p', `${repoRoot}examples/hello-static`], env);
      return r.code === 0 ? r : null;
    }, 30_000, 'a small push after the restart');
    assert.equal(push.code, 0);
  });
});
