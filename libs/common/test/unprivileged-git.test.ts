import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  ADMIN_GIT_PROTOCOLS,
  DEVELOPER_GIT_PROTOCOLS,
  makeCloneDir,
  mayCloneUrl,
  removeCloneDir,
  runUnprivilegedGit,
  UNPRIVILEGED,
} from '../src/unprivileged-git.js';

const asRoot = process.getuid?.() === 0;
let source: string;
let work: string;
/** Host config that a clone must not see: a global file with a marker and an insteadOf rewrite. */
let hostConfig: string;
const saved = { GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL, SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK };

before(async () => {
  source = mkdtempSync(join(tmpdir(), 'nap-unpriv-src-'));
  chmodSync(source, 0o755);
  writeFileSync(join(source, 'file.txt'), 'hello\n');
  const g = (args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.test', ...args], { cwd: source, stdio: 'pipe' });
  g(['init', '-q', '-b', 'main']);
  g(['add', '.']);
  g(['commit', '-q', '-m', 'x']);
  hostConfig = join(source, '..', `host-gitconfig-${process.pid}`);
  writeFileSync(hostConfig, '[nap "marker"]\n\thost = yes\n[credential]\n\thelper = store\n');
  process.env.GIT_CONFIG_GLOBAL = hostConfig;
  process.env.SSH_AUTH_SOCK = '/tmp/agent.sock';
  work = await makeCloneDir('nap-unpriv-test-');
});

after(async () => {
  process.env.GIT_CONFIG_GLOBAL = saved.GIT_CONFIG_GLOBAL;
  process.env.SSH_AUTH_SOCK = saved.SSH_AUTH_SOCK;
  if (saved.GIT_CONFIG_GLOBAL === undefined) delete process.env.GIT_CONFIG_GLOBAL;
  if (saved.SSH_AUTH_SOCK === undefined) delete process.env.SSH_AUTH_SOCK;
  await removeCloneDir(work);
  rmSync(source, { recursive: true, force: true });
  rmSync(hostConfig, { force: true });
});

test('git sees no config of the host: only the command line, no credential helper', async () => {
  const { stdout } = await runUnprivilegedGit(['config', '--list', '--show-origin', '--show-scope'], { workDir: work, protocols: DEVELOPER_GIT_PROTOCOLS, timeoutMs: 10_000 });
  const lines = stdout.trim().split('\n');
  assert.ok(lines.length > 0);
  for (const l of lines) assert.match(l, /^command\tcommand line:/, l);
  assert.doesNotMatch(stdout, /marker/);
  assert.match(stdout, /credential\.helper=$/m);
});

test('git gets an empty HOME of its own and no ssh agent', async () => {
  const { stdout } = await runUnprivilegedGit(['var', 'GIT_SSH_COMMAND'], { workDir: work, protocols: DEVELOPER_GIT_PROTOCOLS, timeoutMs: 10_000 }).catch(() => ({ stdout: '' }));
  assert.doesNotMatch(stdout, /agent\.sock/);
  // What the spawned process saw, printed by git's own shell alias.
  const env = await runUnprivilegedGit(['-c', 'alias.env=!env', 'env'], { workDir: work, protocols: DEVELOPER_GIT_PROTOCOLS, timeoutMs: 10_000 });
  assert.match(env.stdout, new RegExp(`^HOME=${join(work, 'home')}$`, 'm'));
  assert.doesNotMatch(env.stdout, /SSH_AUTH_SOCK/);
  assert.match(env.stdout, /^GIT_CONFIG_NOSYSTEM=1$/m);
  assert.match(env.stdout, /^GIT_TERMINAL_PROMPT=0$/m);
  const id = await runUnprivilegedGit(['-c', 'alias.uid=!id -u', 'uid'], { workDir: work, protocols: DEVELOPER_GIT_PROTOCOLS, timeoutMs: 10_000 });
  assert.equal(Number(id.stdout.trim()), asRoot ? UNPRIVILEGED.uid : process.getuid?.());
});

test('an admin clone of file:// is made by the unprivileged user', async () => {
  const tree = join(work, 'tree');
  await runUnprivilegedGit(['clone', '-q', '--', `file://${source}`, tree], { workDir: work, protocols: ADMIN_GIT_PROTOCOLS, timeoutMs: 20_000 });
  const owner = statSync(join(tree, 'file.txt')).uid;
  assert.equal(owner, asRoot ? UNPRIVILEGED.uid : process.getuid?.());
});

test('a developer clone may not use file://', async () => {
  await assert.rejects(
    runUnprivilegedGit(['clone', '-q', '--', `file://${source}`, join(work, 'dev-tree')], { workDir: work, protocols: DEVELOPER_GIT_PROTOCOLS, timeoutMs: 20_000 }),
    (err: { stderr?: string }) => /transport 'file' not allowed/.test(err.stderr ?? ''),
  );
});

test('which URLs a developer and an admin may have cloned', () => {
  assert.ok(mayCloneUrl('https://example.test/r.git', 'developer'));
  assert.ok(mayCloneUrl('http://example.test/r.git', 'developer'));
  for (const url of ['file:///etc', 'git://example.test/r.git', 'ssh://git@example.test/r.git', 'git@example.test:r.git', 'ext::sh -c id', 'not a url']) {
    assert.ok(!mayCloneUrl(url, 'developer'), url);
  }
  for (const url of ['file:///srv/r.git', 'git://example.test/r.git', 'ssh://git@example.test/r.git', 'git@example.test:r.git']) assert.ok(mayCloneUrl(url, 'admin'), url);
  assert.ok(!mayCloneUrl('ext::sh -c id', 'admin'));
});
