import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nap, repoRoot, TestPlatform } from '@nap/testkit';

/** nap with stdin from `input` (a script piped in, as a user would): its output and status. */
function napWithInput(args: string[], env: Record<string, string>, input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'cli/bin/nap.js'), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * Issue 16's nap ssh on real engines: a command (and a piped shell) runs inside the running
 * instance as the app's user; another developer is refused, and so is everyone once the owner
 * turned it off; each session is an event.
 */
describe('nap ssh into a running instance', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  let alice: Record<string, string>;
  let bob: Record<string, string>;
  let dir: string;

  before(async () => {
    platform = await TestPlatform.start();
    env = platform.cliEnv();
    for (const [name, set] of [['alice', (e: Record<string, string>) => (alice = e)], ['bob', (e: Record<string, string>) => (bob = e)]] as const) {
      const made = await nap(['users', 'create', name, '--json'], env);
      set({ ...env, NAP_TOKEN: (JSON.parse(made.stdout) as { token: string }).token });
    }
    dir = mkdtempSync(join(tmpdir(), 'nap-ssh-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'shelly', version: '1.0.0', private: true }));
    writeFileSync(join(dir, 'server.js'), "require('http').createServer((q, s) => s.end('shelly\\n')).listen(process.env.PORT);\n");
    // The env in the manifest, so the instance runs with it from its start (a set-env would roll it).
    writeFileSync(join(dir, 'manifest.yml'), JSON.stringify({ applications: [{ name: 'shelly', memory: '64M', env: { SECRET_OF_ALICE: 'only-alice-knows' } }] }));
    const pushed = await nap(['push', 'shelly', '-p', dir], alice);
    assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
  });

  after(async () => {
    await platform?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("nap ssh -c runs inside the instance: its pid 1 is the app, its user is vcap, its env the app's", async () => {
    const r = await nap(['ssh', 'shelly', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; id -u; echo "$SECRET_OF_ALICE"; pwd'], alice);
    assert.equal(r.code, 0, r.stderr);
    const [cmdline, uid, secret, pwd] = r.stdout.trim().split('\n');
    assert.match(cmdline, /server\.js/);
    assert.equal(uid, '2000', 'never root');
    assert.equal(secret, 'only-alice-knows');
    assert.equal(pwd, '/home/vcap/app');
    const failing = await nap(['ssh', 'shelly', '-c', 'exit 7'], alice);
    assert.equal(failing.code, 7, 'the remote status is the CLI\'s');
  });

  test('a shell reads a script piped in', async () => {
    const r = await napWithInput(['ssh', 'shelly'], alice, 'echo "in $HOME"\nnode --version\nexit 3\n');
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /in \/home\/vcap\/app/);
    assert.match(r.stdout, /^v\d+\.\d+\.\d+$/m);
  });

  test('another developer is refused, and nothing runs for them', async () => {
    const r = await nap(['ssh', 'shelly', '-c', 'echo "$SECRET_OF_ALICE"'], bob);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /belongs to another user/);
    assert.doesNotMatch(r.stdout, /only-alice-knows/);
  });

  test('disable-ssh refuses everyone (admins too) until enable-ssh; sessions are events', async () => {
    assert.equal((await nap(['disable-ssh', 'shelly'], alice)).code, 0);
    for (const who of [alice, env]) {
      const r = await nap(['ssh', 'shelly', '-c', 'echo hi'], who);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /ssh is turned off for shelly/);
    }
    assert.equal((await nap(['enable-ssh', 'shelly'], alice)).code, 0);
    assert.equal((await nap(['ssh', 'shelly', '-c', 'echo hi'], env)).stdout.trim(), 'hi');
    const events = JSON.parse((await nap(['events', 'shelly', '--json'], alice)).stdout) as { type: string; actor: string }[];
    const sessions = events.filter((e) => e.type === 'ssh');
    assert.ok(sessions.some((e) => e.actor === 'alice') && sessions.some((e) => e.actor === 'admin'), JSON.stringify(sessions));
  });
});
