import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { connectEtcd, type Etcd3, keys, loadSettings } from '@nap/common';
import { eventually, httpGet, nap, TestPlatform } from '@nap/testkit';

/** What an instance says about itself: the limits it really has, seen from inside. */
const REPORTER = `
const http = require('http');
const fs = require('fs');
const { execSync } = require('child_process');
const read = (p) => { try { return fs.readFileSync(p, 'utf8').trim(); } catch { return null; } };
http.createServer((req, res) => {
  res.end(JSON.stringify({
    fds: execSync('ulimit -n').toString().trim(),
    uid: execSync('id -u').toString().trim(),
    gid: execSync('id -g').toString().trim(),
    cpu_shares: read('/sys/fs/cgroup/cpu/cpu.shares'),
  }));
}).listen(process.env.PORT);
`;

const PIDS_MAX = 200;

interface Event {
  type: string;
  detail?: { exit_description?: string };
}

describe('limits and quotas, end to end on real NATS, etcd and Docker', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  let etcd: Etcd3;
  const dirs: string[] = [];
  const docker = new Docker({ socketPath: process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock' });

  const appDir = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'nap-limits-app-'));
    dirs.push(dir);
    for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
    return dir;
  };
  const api = (token: string, method: string, path: string, body?: unknown) =>
    httpGet(`${platform.controllerUrl}${path}`, { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, method, body === undefined ? undefined : JSON.stringify(body));
  const report = (host: string) =>
    eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: `${host}.nap.localhost` });
      return r.status === 200 ? (JSON.parse(r.body) as { fds: string; uid: string; gid: string; cpu_shares: string | null }) : null;
    }, 30_000, `${host} to answer through the router`);

  before(async () => {
    platform = await TestPlatform.start({ env: { NAP_DOCKERFILE_BUILD_PIDS_MAX: String(PIDS_MAX) } });
    env = platform.cliEnv();
    etcd = connectEtcd(loadSettings({ ...platform.env, ...platform.engines.env, NAP_LOG_LEVEL: 'silent' }));
  });

  after(async () => {
    etcd?.close();
    await platform?.stop();
    if (platform) {
      const own = await docker.listImages({ filters: { label: [`nap.installation=${platform.installationId}`] } });
      for (const image of own) await docker.getImage(image.Id).remove({ force: true }).catch(() => {});
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('an instance sees the fd limit of its start message and CPU shares by its memory', async () => {
    const dir = appDir({ Procfile: 'web: node server.js\n', 'server.js': REPORTER });
    const push = await nap(['push', 'limits', '-p', dir, '-m', '256M'], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}\n${await platform.logTail('dea-1')}`);
    const seen = await report('limits');
    assert.equal(seen.fds, '16384', 'ulimit -n inside the container is limits.fds');
    assert.equal(seen.uid, '2000');
    assert.equal(seen.cpu_shares, '32', '1024 × 256 / 8192');
  });

  test('an instance that writes past its disk_mb with dd is stopped as crashed, "disk quota exceeded"', async () => {
    const dir = appDir({
      Procfile: 'web: dd if=/dev/zero of=/tmp/fill bs=1M count=150 && node server.js\n',
      'server.js': REPORTER,
      'manifest.yml': 'applications:\n- name: filler\n  disk_quota: 64M\n',
    });
    const push = await nap(['push', 'filler', '-p', dir, '--no-start'], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    const start = await api(platform.adminToken, 'POST', '/v1/apps/filler/start');
    assert.equal(start.status, 200, start.body);
    const crash = await eventually(async () => {
      const events = JSON.parse((await api(platform.adminToken, 'GET', '/v1/apps/filler/events')).body) as Event[];
      return events.find((e) => e.type === 'crashed' && /disk quota exceeded/.test(e.detail?.exit_description ?? ''));
    }, 60_000, 'a crashed event with the disk reason');
    assert.match(crash.detail!.exit_description!, /^disk quota exceeded: the app wrote \d+ MB, more than its 64 MB$/);
  });

  test('an instance whose disk_mb no DEA has is not placed, and the app says it lacks disk', async () => {
    const dir = appDir({ Procfile: 'web: node server.js\n', 'server.js': REPORTER, 'manifest.yml': 'applications:\n- name: hoarder\n  disk_quota: 500G\n' });
    const push = await nap(['push', 'hoarder', '-p', dir, '--no-start'], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    assert.equal((await api(platform.adminToken, 'POST', '/v1/apps/hoarder/start')).status, 200);
    const failed = await eventually(async () => {
      const events = JSON.parse((await api(platform.adminToken, 'GET', '/v1/apps/hoarder/events')).body) as (Event & { detail?: { reason?: string } })[];
      return events.find((e) => e.type === 'placement_failed');
    }, 60_000, 'the placement failure');
    assert.match(failed.detail!.reason!, /^pending: insufficient disk: no DEA has 512000 MB of disk free for instance 0$/);
    const instances = JSON.parse((await api(platform.adminToken, 'GET', '/v1/apps/hoarder/instances')).body) as { state: string }[];
    assert.ok(!instances.some((i) => i.state === 'RUNNING' || i.state === 'STARTING'), JSON.stringify(instances));
    // Refused before any start: no DEA tried it and crashed it for want of disk.
    const events = JSON.parse((await api(platform.adminToken, 'GET', '/v1/apps/hoarder/events')).body) as Event[];
    assert.deepEqual(events.filter((e) => e.type === 'crashed'), [], 'no instance was started and crashed');
    assert.equal((await api(platform.adminToken, 'POST', '/v1/apps/hoarder/stop')).status, 200);
  });

  test('a Dockerfile with USER root runs as uid 2000', async () => {
    const dir = appDir({
      Dockerfile: 'FROM nap/stack:bookworm\nUSER root\nCOPY server.js /srv/server.js\nWORKDIR /srv\nCMD ["node", "server.js"]\n',
      'server.js': REPORTER,
    });
    const push = await nap(['push', 'rooted', '-p', dir], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}\n${await platform.logTail('dea-1')}`);
    const seen = await report('rooted');
    assert.equal(seen.uid, '2000', 'the image asked for root and got vcap');
    assert.equal(seen.gid, '2000');
  });

  test('a Dockerfile RUN that forks 10000 processes stops at the build pids cap', async () => {
    const dir = appDir({
      Dockerfile:
        'FROM nap/stack:bookworm\n' +
        // Each sleep is a process that stays; dash gives up ("Cannot fork") when the cgroup is full.
        "RUN sh -c 'n=0; while [ $n -lt 10000 ]; do sleep 300 & n=$((n+1)); echo $n > /tmp/count; done'; read c < /tmp/count; echo \"forked $c of 10000\"; exit 1\n",
    });
    const push = await nap(['push', 'forker', '-p', dir, '-m', '512M'], env);
    assert.notEqual(push.code, 0, 'the build fails');
    const forked = /forked (\d+) of 10000/.exec(push.stderr);
    if (forked) {
      assert.ok(Number(forked[1]) < PIDS_MAX, `RUN forked ${forked[1]} processes; the cap is ${PIDS_MAX}`);
    } else {
      // The cap can also stop the builder's own runc (it shares the build's cgroup) before the RUN
      // prints its count: then the build fails on that refused fork, which is the cap at work too.
      assert.match(push.stderr, /Cannot fork[\s\S]*fork\/exec \/usr\/bin\/runc: resource temporarily unavailable/, `RUN neither reported how far it got nor met the cap:\n${push.stderr}`);
    }
  });

  test('a developer over their quota gets quota_exceeded and nothing changes; an admin raises it and it works', async () => {
    const made = await nap(['users', 'create', 'dora', '--json'], env);
    assert.equal(made.code, 0, made.stderr);
    const token = (JSON.parse(made.stdout) as { token: string }).token;
    const dora = { ...env, NAP_TOKEN: token };

    const set = await nap(['quota', 'dora', '--apps', '1', '--instances', '2', '--memory', '512M', '--json'], env);
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual((JSON.parse(set.stdout) as { limit: unknown }).limit, { apps: 1, instances: 2, memory_mb: 512 });
    const refusedSet = await nap(['quota', 'dora', '--apps', '50', '--json'], dora);
    assert.notEqual(refusedSet.code, 0, 'a developer cannot raise their own quota');

    const dir = appDir({ Procfile: 'web: node server.js\n', 'server.js': REPORTER });
    const push = await nap(['push', 'dora-app', '-p', dir, '-m', '256M'], dora);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);

    const appsBefore = Object.keys(await etcd.getAll().prefix(keys.apps()).strings()).sort();
    const recordBefore = await etcd.get(keys.app('dora-app')).string();

    // A second app: over `apps`.
    const second = await api(token, 'PUT', '/v1/apps/dora-two', {});
    assert.equal(second.status, 403, second.body);
    const secondErr = (JSON.parse(second.body) as { error: { code: string; over: string[]; used: { apps: number }; limit: { apps: number } } }).error;
    assert.equal(secondErr.code, 'quota_exceeded');
    assert.deepEqual(secondErr.over, ['apps']);
    assert.equal(secondErr.used.apps, 1);
    assert.equal(secondErr.limit.apps, 1);
    assert.equal(await etcd.get(keys.route('dora-two.nap.localhost')).string(), null, 'no route was claimed');

    // Three instances of 256 MB: over `instances` and `memory_mb`.
    const scale = await api(token, 'PUT', '/v1/apps/dora-app', { instances: 3 });
    assert.equal(scale.status, 403, scale.body);
    assert.deepEqual((JSON.parse(scale.body) as { error: { over: string[] } }).error.over, ['instances', 'memory_mb']);
    // One instance of 1 GB: over `memory_mb`; a web=3 through processes, too.
    assert.equal((await api(token, 'PUT', '/v1/apps/dora-app', { memory: '1G' })).status, 403);
    assert.equal((await api(token, 'PUT', '/v1/apps/dora-app', { processes: { web: { instances: 3 } } })).status, 403);
    // A similar app starts at once: over `apps`.
    const similar = await api(token, 'POST', '/v1/apps/dora-app/similar', { name: 'dora-copy' });
    assert.equal(similar.status, 403, similar.body);
    const cli = await nap(['scale', 'dora-app', '-i', '3', '--json'], dora);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr + cli.stdout, /quota allows 2 instances; this would make 3/);

    assert.deepEqual(Object.keys(await etcd.getAll().prefix(keys.apps()).strings()).sort(), appsBefore, 'no app was made');
    assert.equal(await etcd.get(keys.app('dora-app')).string(), recordBefore, 'the app record is untouched');

    const shown = await nap(['quota', 'dora', '--json'], dora);
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual((JSON.parse(shown.stdout) as { used: unknown }).used, { apps: 1, instances: 1, memory_mb: 256 });

    const raised = await nap(['quota', 'dora', '--apps', '2', '--instances', '3', '--memory', '1G', '--json'], env);
    assert.equal(raised.code, 0, raised.stderr);
    const scaled = await api(token, 'PUT', '/v1/apps/dora-app', { instances: 3 });
    assert.equal(scaled.status, 200, scaled.body);
    assert.equal((JSON.parse((await etcd.get(keys.app('dora-app')).string())!) as { instances: number }).instances, 3);
    assert.equal((await api(token, 'PUT', '/v1/apps/dora-two', {})).status, 201);
  });

  test('a DEA whose disk is nearly full advertises no room and why; a push says so; with room again it takes work', async () => {
    const deas = async () => JSON.parse((await api(platform.adminToken, 'GET', '/v1/deas')).body) as { id: string; available_memory_mb: number; unavailable?: string }[];
    await platform.stopService('dea-1', { kill: true });
    // More than this disk has free: the DEA's own rule then finds its disk nearly full.
    platform.startService('dea-1', { NAP_DEA_DISK_RESERVE_MB: '1000000000' });
    const full = await eventually(async () => (await deas()).find((d) => /disk nearly full/.test(d.unavailable ?? '')), 30_000, 'an advertisement saying the disk is nearly full');
    assert.equal(full.available_memory_mb, 0);
    assert.match(full.unavailable!, /^disk nearly full: \d+ MB free, under the 1000000000 MB reserve \(NAP_DEA_DISK_RESERVE_MB\)/);

    const dir = appDir({ Procfile: 'web: node server.js\n', 'server.js': REPORTER });
    const push = await nap(['push', 'no-room', '-p', dir], env);
    assert.notEqual(push.code, 0, 'nothing can stage on a full DEA');
    assert.match(push.stderr + push.stdout, /no DEA has room to stage no-room.*not taking work: dea-1[^:]*: disk nearly full/s);

    await platform.stopService('dea-1', { kill: true });
    platform.startService('dea-1');
    await eventually(async () => (await deas()).some((d) => !d.unavailable && d.available_memory_mb > 0), 30_000, 'room again');
    const again = await nap(['push', 'no-room', '-p', dir], env);
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
  });
});
