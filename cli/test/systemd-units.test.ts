import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { nap } from '@nap/testkit';
import { absoluteCommand, systemdUnit } from '../src/platform/systemd-units.js';

const work = mkdtempSync(join(tmpdir(), 'nap-systemd-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('a unit restarts its program on failure, quotes its arguments as systemd reads them, and holds no secret', () => {
  const unit = systemdUnit(
    { name: 'controller', role: 'controller', secrets: ['NAP_ADMIN_TOKEN'], engineUser: 'controller', command: '/usr/bin/node', args: ['/opt/nap/main.js', 'a b', 'say "hi"', '100%'], port: 9022, marker: 'x' },
    { root: '/opt/nap', settingsEnv: { NAP_HOME: '/var/lib/nap', NAP_DOMAIN: 'apps example' }, logFile: '/var/lib/nap/logs/controller.log', envFile: '/var/lib/nap/systemd/controller.env' },
  );
  assert.match(unit, /^ExecStart=\/usr\/bin\/node \/opt\/nap\/main\.js "a b" "say \\"hi\\"" "100%%"$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^StartLimitIntervalSec=0$/m, 'systemd never gives up on it');
  assert.match(unit, /^After=network-online\.target nap-nats\.service nap-etcd\.service$/m);
  assert.match(unit, /^Environment="NAP_DOMAIN=apps example"$/m);
  assert.match(unit, /^EnvironmentFile=-\/var\/lib\/nap\/systemd\/controller\.env$/m);
  assert.doesNotMatch(unit, /TOKEN|PASSWORD/);
});

test('absoluteCommand finds a program on PATH and says what to do when it is missing', () => {
  assert.equal(absoluteCommand('sh', '/nonexistent:/bin'), '/bin/sh');
  assert.throws(() => absoluteCommand('no-such-program-here', '/bin'), /no-such-program-here is not installed \(not on PATH\): run deploy\/setup first/);
});

test('nap systemd writes a unit per program that systemd accepts, and each program\'s secrets 0600 beside NAP_HOME', async () => {
  const home = join(work, 'home');
  const units = join(work, 'units');
  const r = await nap(['systemd', '--dir', units, '--json'], { NAP_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  const written = (JSON.parse(r.stdout) as { units: string[] }).units;
  assert.deepEqual(written, ['nats', 'etcd', 'router', 'directory', 'controller', 'dea'].map((n) => `nap-${n}.service`));
  assert.deepEqual(readdirSync(units).sort(), [...written].sort());
  const secrets = readdirSync(join(home, 'credentials')).map((f) => readFileSync(join(home, 'credentials', f), 'utf8').trim());
  for (const u of written) {
    const text = readFileSync(join(units, u), 'utf8');
    for (const s of secrets) assert.ok(!text.includes(s), `a secret in ${u}`);
  }
  const controllerEnv = join(home, 'systemd', 'controller.env');
  assert.equal(statSync(controllerEnv).mode & 0o777, 0o600);
  assert.match(readFileSync(controllerEnv, 'utf8'), /^NAP_ETCD_USER=controller$/m);
  assert.equal(readFileSync(join(home, 'systemd', 'directory.env'), 'utf8').includes('NAP_ETCD'), false, 'the directory gets no engine user');
  const analyze = spawnSync('systemd-analyze', ['verify', ...written.map((u) => join(units, u))], { encoding: 'utf8' });
  if (analyze.error) return; // no systemd tools on this machine: the checks above stand
  assert.equal(analyze.status, 0, `${analyze.stdout}${analyze.stderr}`);
  assert.equal(analyze.stderr.trim(), '', 'systemd-analyze has no complaint');
});

test('a node of a cluster also gets nap-follow, which keeps its engine URLs and NATS routes as the supervisor would', async () => {
  const home = join(work, 'cluster-home');
  const units = join(work, 'cluster-units');
  const r = await nap(['systemd', '--dir', units, '--json'], { NAP_HOME: home, NAP_NODE_ADDRESS: '10.9.9.9' });
  assert.equal(r.code, 0, r.stderr);
  const written = (JSON.parse(r.stdout) as { units: string[] }).units;
  assert.ok(written.includes('nap-follow.service'), written.join(', '));
  const follow = readFileSync(join(units, 'nap-follow.service'), 'utf8');
  assert.match(follow, /^ExecStart=\S+ \S+\/cli\/dist\/src\/platform\/follow-main\.js$/m);
  assert.match(follow, /^After=network-online\.target nap-nats\.service nap-etcd\.service$/m);
  assert.equal(readFileSync(join(home, 'systemd', 'follow.env'), 'utf8'), '', 'it reads the credentials it needs from NAP_HOME itself');
  // A node alone on loopback has no one to follow.
  const alone = await nap(['systemd', '--dir', join(work, 'alone-units'), '--json'], { NAP_HOME: join(work, 'alone-home') });
  assert.ok(!(JSON.parse(alone.stdout) as { units: string[] }).units.includes('nap-follow.service'));
});
