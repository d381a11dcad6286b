import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

  /** A developer of this suite's platform, with their token. */
  const developer = async (name: string) => JSON.parse((await nap(['users', 'create', name, '--json'], platform.cliEnv())).stdout) as { token: string };
  /** A fresh repository: the hello-node example, then `files` (a `{ link }` is a symbolic link), in one commit. */
  const repoWith = (files: Record<string, string | { link: string }>) => {
    const dir = mkdtempSync(join(tmpdir(), 'nap-git-attack-'));
    cpSync(join(repoRoot, 'examples/hello-node'), dir, { recursive: true });
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      if (typeof content === 'string') writeFileSync(join(dir, path), content);
      else symlinkSync(content.link, join(dir, path));
    }
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir });
    assert.equal(git(['add', '-A'], dir).status, 0);
    assert.equal(git(['commit', '-q', '-m', 'attack'], dir).status, 0);
    return dir;
  };
  const branches = (token: string, app: string) => git(['ls-remote', '--heads', remote(token, app)]);
  const dirSize = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? dirSize(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);
  /** A secret only the platform's machine holds: what an attacker's link points at. */
  const secret = randomBytes(16).toString('hex');
  let secretFile: string;

  before(async () => {
    platform = await TestPlatform.start({ env: { NAP_UPLOAD_LIMIT_MB: '5' } });
    secretFile = join(platform.home, 'secret.token');
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    repo = mkdtempSync(join(tmpdir(), 'nap-git-'));
    // nap deploy clones as an unprivileged user: an admin's file:// repository must be readable by it.
    chmodSync(repo, 0o755);
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

  test('a developer may deploy from https only: file://, git://, ssh:// and user@host: are refused', async () => {
    const { token } = await developer('frank');
    for (const url of [`file://${repo}`, 'git://127.0.0.1/r.git', 'ssh://git@127.0.0.1/r.git', 'git@127.0.0.1:r.git']) {
      const res = await httpGet(`${platform.controllerUrl}/v1/apps/frank-app`, { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, 'PUT', '{}');
      assert.ok(res.status === 200 || res.status === 201, res.body);
      const deployed = await nap(['deploy', 'frank-app', url], { ...platform.cliEnv(), NAP_TOKEN: token });
      assert.notEqual(deployed.code, 0, url);
      assert.match(deployed.stderr, /only https:\/\/ and http:\/\/ URLs are for everyone/, url);
    }
  });

  test('a developer pushing links to a secret as profile, manifest or .napignore is refused, and nothing of the secret comes back', async () => {
    const { token } = await developer('mallory');
    for (const [app, file] of [['evil-profile', 'profile'], ['evil-manifest', 'manifest.yml'], ['evil-ignore', '.napignore']] as const) {
      const dir = repoWith({ [file]: { link: secretFile } });
      try {
        const push = git(['push', remote(token, app), 'main'], dir);
        assert.notEqual(push.status, 0, `${file}: ${push.stderr}`);
        assert.match(push.stderr, new RegExp(`remote: nap: ${file.replace('.', '\\.')} is a symbolic link`), push.stderr);
        assert.match(push.stderr, /\[remote rejected\] main -> main \(deploy refused\)/);
        assert.ok(!push.stderr.includes(secret) && !push.stdout.includes(secret), `${file}: the secret came back`);
        // The refused commit is not kept: the app's repository has no branch.
        assert.equal(branches(token, app).stdout.trim(), '', `${file}: a branch was kept`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    // A manifest or profile that is not nap's shape is refused by line and key, quoting nothing.
    const bad = repoWith({ profile: `${secret}\n` });
    try {
      const push = git(['push', remote(token, 'evil-text'), 'main'], bad);
      assert.notEqual(push.status, 0);
      assert.match(push.stderr, /remote: nap: profile line 1: expected memory:, scale:, command: or name:/);
      assert.ok(!push.stderr.includes(secret), 'the profile line came back');
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  test('a manifest path: out of the pushed tree is refused', async () => {
    const { token } = await developer('trent');
    for (const [app, path] of [['path-etc', '/etc'], ['path-up', '..']]) {
      const dir = repoWith({ 'manifest.yml': `applications:\n- name: ${app}\n  path: ${path}\n` });
      try {
        const push = git(['push', remote(token, app), 'main'], dir);
        assert.notEqual(push.status, 0, push.stderr);
        assert.match(push.stderr, /remote: nap: manifest\.yml: path: must be \. for a git push/);
        assert.equal(branches(token, app).stdout.trim(), '');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  test("another developer can neither fetch nor push someone else's app repository", async () => {
    const { token: olivia } = await developer('olivia');
    const { token: eve } = await developer('eve');
    const push = git(['push', remote(olivia, 'olivias'), 'main']);
    assert.equal(push.status, 0, push.stderr);
    assert.match(branches(olivia, 'olivias').stdout, /refs\/heads\/main/);
    const fetch = branches(eve, 'olivias');
    assert.notEqual(fetch.status, 0);
    assert.match(fetch.stderr, /403/);
    const clone = git(['clone', '-q', remote(eve, 'olivias'), join(repo, '..', `eve-${randomBytes(4).toString('hex')}`)], tmpdir());
    assert.notEqual(clone.status, 0);
    const pushed = git(['push', remote(eve, 'olivias'), 'main:other']);
    assert.notEqual(pushed.status, 0);
    assert.match(pushed.stderr, /403/);
    // Nobody fetches an app that does not exist.
    const none = branches(eve, 'nobody-has-this');
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /404|not found/i);
  });

  test('a push over the upload limit is refused and stores nothing', async () => {
    const { token } = await developer('bigfoot');
    assert.equal(git(['push', remote(token, 'big'), 'main']).status, 0);
    const before = dirSize(join(platform.home, 'git'));
    const dir = repoWith({ 'blob.bin': randomBytes(8 * 1024 * 1024).toString('base64') });
    try {
      const push = git(['push', '--force', remote(token, 'big'), 'main'], dir);
      assert.notEqual(push.status, 0);
      assert.match(push.stderr, /the push passes the limit is 5 MB|the push is \d+ MB; the limit is 5 MB|limit is 5 MB/);
      assert.match(push.stderr, /\[remote rejected\] main -> main \(push too large\)|HTTP 413/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(dirSize(join(platform.home, 'git')) - before < 1024 * 1024, 'the refused push left its objects');
    const head = git(['rev-parse', 'main']).stdout.trim();
    assert.match(branches(token, 'big').stdout, new RegExp(`^${head}\\s+refs/heads/main`));
  });

  test("a deleted app's repository goes with it: no clone, and a new app of that name starts empty", async () => {
    const { token } = await developer('dora');
    assert.equal(git(['push', remote(token, 'doomed'), 'main']).status, 0);
    assert.match(branches(token, 'doomed').stdout, /refs\/heads\/main/);
    const deleted = await nap(['delete', 'doomed', '-f'], { ...platform.cliEnv(), NAP_TOKEN: token });
    assert.equal(deleted.code, 0, deleted.stderr);
    const clone = git(['clone', '-q', remote(platform.adminToken, 'doomed'), join(tmpdir(), `doomed-${randomBytes(4).toString('hex')}`)], tmpdir());
    assert.notEqual(clone.status, 0, 'the deleted app could be cloned');
    const made = await httpGet(`${platform.controllerUrl}/v1/apps/doomed`, { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, 'PUT', '{}');
    assert.equal(made.status, 201, made.body);
    const fresh = branches(token, 'doomed');
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.equal(fresh.stdout.trim(), '', 'the new app inherited the history');
  });
});
