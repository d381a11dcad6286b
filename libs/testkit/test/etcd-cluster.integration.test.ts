import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { addEtcdLearner, connectEtcd, connectEtcdAsRoot, Etcd3, ETCD_ROOT_USER, etcdArgs, freePort, isAlive, loadSettings, promoteEtcdLearners, sleep, spawnDetached, stopPid, waitForPort } from '@nap/common';
import { startEngines, type Engines } from '../src/engines.js';
import { eventually } from '../src/http.js';

// An etcd of three members grown as `nap join` grows it (learners added as root, started with the
// cluster they were handed, promoted once caught up), and a platform client that was given only
// the first member's URL: it must follow the members and survive the first one's death.

let engines: Engines;
let root: Etcd3;
const extra: number[] = [];

before(async () => {
  engines = await startEngines();
  root = connectEtcdAsRoot([engines.etcdUrl], engines.credentials.etcdRootPassword);
});

after(async () => {
  root?.close();
  await Promise.all(extra.map((pid) => stopPid(pid, 5000)));
  await engines?.stop();
});

test('members join as learners, are promoted, and a client given one URL follows them past that member’s death', async () => {
  const urls = [engines.etcdUrl];
  for (const n of [2, 3]) {
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const name = `member-${n}`;
    const initialCluster = await addEtcdLearner(root, name, `http://127.0.0.1:${peerPort}`);
    assert.match(initialCluster, new RegExp(`${name}=http://127\\.0\\.0\\.1:${peerPort}`));
    const dataDir = join(engines.dir, `etcd-${n}`);
    await mkdir(dataDir);
    const pid = spawnDetached('etcd', etcdArgs({ name, dataDir, clientPort, peerPort, initialCluster }), { logFile: join(engines.dir, 'logs', `etcd-${n}.log`) });
    extra.push(pid);
    assert.ok(await waitForPort('127.0.0.1', clientPort, 15_000, () => isAlive(pid)), `etcd member ${n} did not start`);
    await eventually(async () => (await promoteEtcdLearners(root)).includes(name) || (await root.cluster.memberList({})).members.every((m) => !m.isLearner), 30_000, `member ${n}'s promotion`);
    urls.push(`http://127.0.0.1:${clientPort}`);
  }
  const { members } = await root.cluster.memberList({});
  assert.equal(members.length, 3);
  assert.ok(members.every((m) => !m.isLearner), 'every member votes');

  // The controller's own user (not root) may list the members, and its client takes them in.
  const controller = connectEtcd(loadSettings({ ...engines.env, NAP_LOG_LEVEL: 'silent' }));
  try {
    await controller.put('/nap/cluster-test').value('written before');
    const hosts = () => (controller as unknown as { pool: { hosts: { host: string }[] } }).pool.hosts.map((h) => h.host).sort();
    await eventually(async () => hosts().length === 3, 30_000, 'the client taking in every member');
    assert.deepEqual(hosts(), urls.map((u) => u.replace('http://', '')).sort());

    // A member that goes silent, as one on a dead or cut-off host does (no reset, no answer;
    // SIGSTOP is that), costs no 3 s lease of a client that was using it: gRPC's pings find the
    // connection dead and the keep-alive goes on through another member.
    const viaSecond = connectEtcd(loadSettings({ ...engines.env, NAP_ETCD_URLS: urls[1], NAP_LOG_LEVEL: 'silent' }));
    try {
      await eventually(async () => (viaSecond as unknown as { pool: { hosts: unknown[] } }).pool.hosts.length === 3, 30_000, 'the second client taking in every member');
      const lease = viaSecond.lease(3);
      let lost: Error | null = null;
      lease.on('lost', (err) => (lost = err));
      await lease.put('/nap/lease-test').value('kept');
      process.kill(extra[0], 'SIGSTOP');
      try {
        await sleep(10_000);
        assert.equal(lost, null, `the lease was lost: ${String(lost)}`);
        const kept = await eventually(async () => (await controller.get('/nap/lease-test').string()) ?? 'gone', 15_000, 'a read with the second member silent');
        assert.equal(kept, 'kept', 'the key under the lease outlived the silent member');
      } finally {
        process.kill(extra[0], 'SIGCONT');
        await lease.revoke().catch(() => {});
      }
    } finally {
      viaSecond.close();
    }

    await engines.killEtcd();
    const read = await eventually(async () => (await controller.get('/nap/cluster-test').string()) ?? false, 30_000, 'a read with the first member dead');
    assert.equal(read, 'written before');
    await eventually(
      async () => {
        await controller.put('/nap/cluster-test').value('written after');
        return true;
      },
      30_000,
      'a write with the first member dead',
    );
    const survivor = new Etcd3({ hosts: urls[1], dialTimeout: 3000, auth: { username: ETCD_ROOT_USER, password: engines.credentials.etcdRootPassword } });
    try {
      assert.equal(await survivor.get('/nap/cluster-test').string(), 'written after');
    } finally {
      survivor.close();
    }
  } finally {
    controller.close();
  }
});
