import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

describe('nap logs, files and events, end to end', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  const host = 'log-demo.nap.localhost';
  const get = (path: string) => httpGet(`${platform.routerUrl}${path}`, { Host: host });

  before(async () => {
    platform = await TestPlatform.start({ env: { NAP_INSTANCE_LOG_MAX_MB: '1' } });
    env = platform.cliEnv();
    const push = await nap(['push', 'log-demo', '-p', `${repoRoot}examples/log-demo`], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
  });

  after(async () => {
    await platform?.stop();
  });

  test('nap logs shows the recent lines of stdout and stderr, tagged with instance and stream, merged by time', async () => {
    assert.equal((await get('/say?text=known-line-1')).status, 200);
    assert.equal((await get('/say?text=known-line-2')).status, 200);
    const out = await eventually(async () => {
      const r = await nap(['logs', 'log-demo'], env);
      return r.stdout.includes('known-line-2') ? r.stdout : null;
    }, 10_000, 'the lines in nap logs');
    const lines = out.trim().split('\n');
    const at = (text: string) => lines.findIndex((l) => l.endsWith(text));
    assert.match(lines[at('log-demo says hello on stderr')], /^\d{4}-\d\d-\d\dT[\d:.]+Z \[0\/err\] log-demo says hello on stderr$/);
    assert.match(lines[at('known-line-1')], /\[0\/out\] known-line-1$/);
    assert.ok(at('log-demo says hello on stderr') < at('known-line-1'), 'merged by time');
    assert.ok(at('known-line-1') < at('known-line-2'));
  });

  test('nap logs --follow shows new lines as the app prints them', async () => {
    const follower = spawn(process.execPath, [`${repoRoot}cli/bin/nap.js`, 'logs', 'log-demo', '--follow'], { env: { ...process.env, ...env } });
    let seen = '';
    follower.stdout.on('data', (d) => (seen += d));
    try {
      await eventually(async () => seen.includes('known-line-2'), 10_000, 'the recent lines first');
      for (let i = 0; i < 3; i++) {
        const marker = `followed-line-${i}-${Date.now()}`;
        assert.equal((await get(`/say?text=${marker}`)).status, 200);
        await eventually(async () => seen.includes(marker), 5_000, `${marker} in the followed output`);
      }
      assert.equal(seen.split('known-line-1').length - 1, 1, 'recent lines are not repeated when following starts');
    } finally {
      follower.kill('SIGINT');
    }
  });

  test("a crashed instance's last words stay readable, and the crash is an event", async () => {
    assert.equal((await get('/crash?text=remember-me')).status, 200);
    const out = await eventually(async () => {
      const r = await nap(['logs', 'log-demo'], env);
      return r.stdout.includes('last words: remember-me') ? r.stdout : null;
    }, 15_000, "the crashed instance's last words");
    assert.match(out, /\[0\/err\] last words: remember-me/);
    const events = await eventually(async () => {
      const r = await nap(['events', 'log-demo', '--json'], env);
      const list = JSON.parse(r.stdout) as { type: string; detail: { exit_status?: number; exit_description?: string } }[];
      return list.find((e) => e.type === 'crashed') ? list : null;
    }, 10_000, 'a crashed event');
    const crashed = events.find((e) => e.type === 'crashed')!;
    assert.equal(crashed.detail.exit_status, 3);
    assert.match(crashed.detail.exit_description ?? '', /exited with status 3/);
    assert.deepEqual(
      ['staged', 'started', 'created'].filter((t) => events.some((e) => e.type === t)),
      ['staged', 'started', 'created'],
    );
    // The replacement serves again.
    await eventually(async () => (await get('/')).status === 200, 30_000, 'a replacement instance');
  });

  test('nap files lists an instance directory and reads a file; nap logs --staging shows the staging log', async () => {
    const listing = await nap(['files', 'log-demo', 'logs/'], env);
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, /stdout\.log\t\d+/);
    const pkg = await nap(['files', 'log-demo', 'app/package.json'], env);
    assert.equal(JSON.parse(pkg.stdout).name, 'log-demo');
    // The attack reaches the directory server, signed, and that server refuses it.
    const escape = await nap(['files', 'log-demo', '../../../../etc/passwd'], env);
    assert.notEqual(escape.code, 0);
    assert.doesNotMatch(escape.stdout, /root:/);
    assert.match(escape.stderr, /refused "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" in instance [\w-]+: \.\. leaves the directory/);
    const staging = await nap(['logs', 'log-demo', '--staging'], env);
    assert.match(staging.stdout, /nodejs app detected/);
  });

  test('the logs endpoint answers 302 to a signed directory URL and refuses unknown instances', async () => {
    const auth = { Authorization: `Bearer ${platform.adminToken}` };
    const r = await httpGet(`${platform.controllerUrl}/v1/apps/log-demo/logs?instance=0&file=stdout`, auth);
    assert.equal(r.status, 302);
    assert.match(String(r.headers.location), /\/instance_paths\/[\w-]+\?path=logs%2Fstdout\.log&timestamp=\d+&hmac=[0-9a-f]{64}$/);
    const unknown = await httpGet(`${platform.controllerUrl}/v1/apps/log-demo/logs?instance=7&file=stdout`, auth);
    assert.equal(unknown.status, 404);
    const badFile = await httpGet(`${platform.controllerUrl}/v1/apps/log-demo/logs?file=../../etc`, auth);
    assert.equal(badFile.status, 400);
    const twoPaths = await httpGet(`${platform.controllerUrl}/v1/apps/log-demo/instances/0/files?path=logs&path=app`, auth);
    assert.equal(twoPaths.status, 400, 'a path given twice is refused, not taken as the root');
    assert.match(twoPaths.body, /invalid_path/);
    const noToken = await httpGet(`${platform.controllerUrl}/v1/apps/log-demo/logs?instance=0`);
    assert.equal(noToken.status, 401);
  });

  test('a flood of 10 MB is capped: the log rotates and the newest lines are kept', async () => {
    assert.equal((await get('/flood?lines=100000')).status, 200);
    await eventually(async () => (await nap(['logs', 'log-demo'], env)).stdout.includes('flood line 99999 '), 60_000, 'the end of the flood in the logs');
    // Listed once the flood is over: one taken during it may fall between a rotation's rename and
    // the new file's creation.
    const r = await nap(['files', 'log-demo', 'logs/'], env);
    const listing = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('\t')).map(([n, s]) => [n, Number(s)]));
    assert.ok(listing['stdout.log.1'] > 0, 'rotated once at least');
    assert.equal(listing['stdout.log.2'], undefined, 'only one rotated file is kept');
    for (const f of ['stdout.log', 'stdout.log.1']) assert.ok(listing[f] <= 1024 * 1024, `${f} is ${listing[f]} bytes`);
  });

  test('output without an end of line is still captured', async () => {
    assert.equal((await get('/partial?text=no-newline-here')).status, 200);
    await eventually(async () => {
      const r = await nap(['files', 'log-demo', 'logs/stdout.log'], env);
      return r.stdout.trimEnd().endsWith('no-newline-here');
    }, 10_000, 'the unended line in stdout.log');
  });
});
