import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

describe('git deploys: git push to the controller, and nap deploy', () => {
  let platform: TestPlatform;
  let repo: string;
  const git = (args: string[], cwd = repo) =>
    spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.test', ...args], { cwd, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  const remote = (token: string, app: string) => `${platform.controllerUrl.replace('http://', `http://u:${token}@`)}/git/${app}.git`;
  const releases = async (app: string) =>
    (JSON.parse((await httpGet(`${platform.controllerUrl}/v1/apps/${app}/releases`, { Authorization: `Bearer ${platform.adminToken}` })).body) as unknown[]).length;

  before(async () => {
    platform = await TestPlatform.start();
    repo = mkdtempSync(join(tmpdir(), 'nap-git-'));
    cpSync(join(repoRoot, 'examples/hello-node'), repo, { recursive: true });
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
    assert.equal(git(['add', '.']).status, 0);
    assert.equal(git(['commit', '-q', '-m', 'first']).status, 0);
  });

  after(async () => {
    rmSync(repo, { recursive: true, force: true });
    await platform?.stop();
  });

  test('git push deploys, showing the staging log and the URL as remote: lines', async () => {
    const push = git(['push', remote(platform.adminToken, 'pushed'), 'main']);
    assert.equal(push.status, 0, push.stderr);
    assert.match(push.stderr, /remote: .*nodejs app detected/);
    assert.match(push.stderr, /remote: .*http:\/\/pushed\.nap\.localhost/);
    const res = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: 'pushed.nap.localhost' });
      return r.status === 200 ? r : null;
    }, 20_000, 'the pushed app to answer');
    assert.match(res.body, /Hello from nap/);
  });

  test('pushing the same commit again does not stage', async () => {
    const before = await releases('pushed');
    const again = git(['push', remote(platform.adminToken, 'pushed'), 'main']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /Everything up-to-date/);
    // A new commit with the same tree reaches the hook, which sees unchanged bits.
    assert.equal(git(['commit', '-q', '--allow-empty', '-m', 'same tree']).status, 0);
    const sameTree = git(['push', remote(platform.adminToken, 'pushed'), 'main']);
    assert.equal(sameTree.status, 0, sameTree.stderr);
    assert.match(sameTree.stderr, /remote: .*unchanged/i);
    assert.equal(await releases('pushed'), before, 'no new staging, no new release');
  });

  test('a wrong token is refused, and a developer cannot push to an app that is not theirs', async () => {
    assert.notEqual(git(['push', remote('wrong-token', 'pushed'), 'main']).status, 0);
    const made = await nap(['users', 'create', 'carol', '--json'], platform.cliEnv());
    const { token } = JSON.parse(made.stdout) as { token: string };
    const refused = git(['push', remote(token, 'pushed'), 'main']);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /403|belongs to another user/);
  });

  test('nap deploy clones a repository on the controller and deploys it', async () => {
    writeFileSync(join(repo, 'server.js'), "require('http').createServer((q, s) => s.end('deployed from git\\n')).listen(process.env.PORT);\n");
    assert.equal(git(['commit', '-q', '-am', 'second']).status, 0);
    const deployed = await nap(['deploy', 'cloned', `file://${repo}`, '--ref', 'main'], platform.cliEnv());
    assert.equal(deployed.code, 0, deployed.stderr);
    await eventually(async () => (await httpGet(`${platform.routerUrl}/`, { Host: 'cloned.nap.localhost' })).body === 'deployed from git\n', 20_000, 'the cloned app');
    const bad = await nap(['deploy', 'cloned', 'not a url'], platform.cliEnv());
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not a git URL/);
  });
});
