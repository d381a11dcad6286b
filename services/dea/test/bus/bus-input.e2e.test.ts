import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Bus, connectEtcd, createLogger, type Etcd3, JetStreamBlobstore, keys, loadSettings, subjects } from '@nap/common';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

/** Every path under `dir` (not following links): to show a message changed nothing on disk. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      out.push(p);
      if (statSync(p, { throwIfNoEntry: false })?.isDirectory()) walk(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/**
 * Values from the bus reach a DEA's paths only in nap's own shapes (issue 11), on a real DEA: a
 * malformed start, stop or staging request is dropped and nothing appears on disk; a droplet whose
 * bytes are not its hash never runs and leaves no file behind.
 */
describe('a DEA checks what the bus and the blobstore give it', () => {
  let platform: TestPlatform;
  let bus: Bus;
  let etcd: Etcd3;
  let deaDir: string;
  let deaId: string;
  let scratch: string;
  const admin = () => ({ Authorization: `Bearer ${platform.adminToken}` });

  before(async () => {
    platform = await TestPlatform.start();
    // The test speaks as the controller: the only one the bus lets start, stop and stage.
    const settings = loadSettings({ ...platform.env, ...platform.engines.env, NAP_LOG_LEVEL: 'silent' });
    bus = await Bus.connect(settings, { name: 'hostile-test', log: createLogger('test', 'silent') });
    etcd = connectEtcd(settings);
    deaDir = join(platform.home, 'dea-1');
    deaId = `dea-1-${platform.installationId}`;
    scratch = mkdtempSync(join(tmpdir(), 'nap-bus-input-'));
  });

  after(async () => {
    await bus?.close();
    etcd?.close();
    await platform?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** The DEA answers dea.locate with its advert: it is alive and has handled what came before on the bus. */
  async function deaAnswers(): Promise<void> {
    const adverts = bus.nc.subscribe(subjects.deaAdvertise);
    try {
      bus.nc.publish(subjects.deaLocate, Buffer.from('{}'));
      for await (const m of adverts) {
        if ((JSON.parse(Buffer.from(m.data).toString()) as { id: string }).id === deaId) return;
      }
    } finally {
      adverts.unsubscribe();
    }
  }

  test('malformed start, stop and staging messages are dropped: nothing is created or deleted, and the DEA still answers', async () => {
    await deaAnswers();
    // A directory a stop with `..` in an instance id would delete, and a file a start could overwrite.
    const bait = join(deaDir, 'bait');
    writeFileSync(join(deaDir, 'bait-file'), 'keep me');
    const before = tree(platform.home);
    const appId = randomUUID();
    const hash = 'ab'.repeat(32);
    const start = {
      app_id: appId, app_name: 'evil', version: randomUUID(), index: 0, instance_id: randomUUID(),
      droplet_key: `droplets/${appId}/${hash}.tgz`, droplet_hash: hash,
      limits: { memory_mb: 64, disk_mb: 64, fds: 64 }, env: {}, uris: [], command: 'true', health_check: { type: 'process', timeout_s: 5 },
    };
    const hostile: [string, unknown][] = [
      [subjects.deaStart(deaId), { ...start, instance_id: '../bait' }],
      [subjects.deaStart(deaId), { ...start, instance_id: `${randomUUID()}/../../bait` }],
      [subjects.deaStart(deaId), { ...start, instance_id: 'i'.repeat(300) }],
      [subjects.deaStart(deaId), { ...start, droplet_hash: '../bait-file', droplet_key: `droplets/${appId}/../bait-file.tgz` }],
      [subjects.deaStart(deaId), { ...start, droplet_hash: '../../../../tmp/nap-evil' }],
      [subjects.deaStart(deaId), { ...start, stack_variant: '../../x' }],
      [subjects.deaStart(deaId), { ...start, droplet_type: 'image', image_id: '../../containers/create' }],
      [subjects.deaStop, { app_id: appId, instance_ids: ['..', '../bait', 'x/..'] }],
      [subjects.stagingStart(deaId), { task_id: '../bait', app_id: appId, app_name: 'evil', package_key: `packages/${appId}/${hash}.tgz`, package_hash: hash, env: {}, memory_mb: 64 }],
      [subjects.stagingStart(deaId), { task_id: randomUUID(), app_id: '../caches', app_name: 'evil', package_key: '../../bait-file', package_hash: hash, env: {}, memory_mb: 64 }],
    ];
    for (const [subject, body] of hostile) bus.nc.publish(subject, Buffer.from(JSON.stringify(body)));
    bus.nc.publish(subjects.deaStart(deaId), Buffer.from('{"not": "json"'));
    await bus.flush();
    await deaAnswers();
    assert.deepEqual(tree(platform.home).filter((p) => !before.includes(p) && !p.endsWith('.log') && !p.includes('/etcd/') && !p.includes('/jetstream/') && !p.endsWith('snapshot.json.tmp')), [], 'nothing was created');
    assert.ok(existsSync(join(deaDir, 'bait-file')), 'nothing was deleted');
    assert.equal(existsSync(bait), false);
    assert.equal(existsSync('/tmp/nap-evil.tgz'), false);
    assert.equal((await platform.containers({ 'nap.app_id': appId })).length, 0, 'no container was made');
  });

  test('a droplet whose bytes do not match its hash is refused at start, with a clear reason, and no copy stays', { timeout: 300_000 }, async () => {
    const push = await nap(['push', 'victim', '-p', `${repoRoot}examples/hello-static`], platform.cliEnv());
    assert.equal(push.code, 0, push.stderr);
    const record = JSON.parse((await etcd.get(keys.app('victim')).string()) as string) as { droplet: { key: string; hash: string } };
    assert.equal((await nap(['stop', 'victim'], platform.cliEnv())).code, 0);
    const cached = join(deaDir, 'droplets', `${record.droplet.hash}.tgz`);
    await eventually(async () => (await platform.containers({ 'nap.app_name': 'victim' })).every((c) => c.State !== 'running'), 60_000, 'victim to stop');
    rmSync(cached, { force: true });
    // Whoever can write the blobstore replaces the droplet's bytes.
    const corrupt = join(scratch, 'corrupt.tgz');
    writeFileSync(corrupt, 'not the droplet that was staged');
    const blobs = await JetStreamBlobstore.open(bus);
    await blobs.putFile(record.droplet.key, corrupt);

    const started = await httpGet(`${platform.controllerUrl}/v1/apps/victim/start`, admin(), 'POST');
    assert.ok(started.status < 300, started.body);
    const crashed = await eventually(
      async () => {
        const r = await httpGet(`${platform.controllerUrl}/v1/apps/victim/instances`, admin());
        const list = JSON.parse(r.body) as { state: string; exit_description: string | null }[];
        return list.find((i) => i.state === 'CRASHED' && i.exit_description);
      },
      120_000,
      'the start to fail',
    );
    assert.match(crashed.exit_description as string, /does not match its hash/);
    // The health manager keeps retrying the start (each retry fetches again): stop it, then nothing of the droplet may remain.
    assert.equal((await nap(['stop', 'victim'], platform.cliEnv())).code, 0);
    await eventually(async () => readdirSync(join(deaDir, 'droplets')).every((n) => !n.includes(record.droplet.hash)), 60_000, 'no copy or partial download of the corrupt droplet to remain');
    assert.equal(existsSync(cached), false, 'the corrupt droplet is not kept');
    assert.equal((await platform.containers({ 'nap.app_name': 'victim' })).filter((c) => c.State === 'running').length, 0, 'nothing runs the corrupt droplet');
  });
});
