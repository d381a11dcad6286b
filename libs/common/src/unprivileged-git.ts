/**
 * git run on a URL somebody typed (`nap deploy`, a git buildpack). The controller and the DEA run
 * as root, and root's git would use root's ssh keys and agent, credential helpers, ~/.gitconfig
 * (with its url rewrites and tokens) and /etc/gitconfig. So the clone runs as an unprivileged user
 * with an empty HOME, no config but the command line's, no agent, no prompts, and only the
 * protocols the caller may use.
 */
import { execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's `nobody`/`nogroup`: owns nothing of the platform's. */
export const UNPRIVILEGED = { uid: 65534, gid: 65534 } as const;

/** Developers may clone from the web only; git://, ssh:// and user@host: can reach what the host's network and keys reach, file:// the host's disk. */
export const DEVELOPER_GIT_PROTOCOLS = ['http', 'https'] as const;
export const ADMIN_GIT_PROTOCOLS = ['http', 'https', 'git', 'ssh', 'file'] as const;

/** The scheme a git URL uses (`ssh` for scp-like user@host:path), or null when it is not a URL git would take. */
export function gitUrlProtocol(url: string): string | null {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (scheme) return scheme[1].toLowerCase();
  return /^[\w.-]+@[\w.-]+:/.test(url) ? 'ssh' : null;
}

/** Whether a caller of this role may have nap clone `url`. */
export function mayCloneUrl(url: string, role: 'admin' | 'developer' | undefined): boolean {
  const protocol = gitUrlProtocol(url);
  const allowed: readonly string[] = role === 'admin' ? ADMIN_GIT_PROTOCOLS : DEVELOPER_GIT_PROTOCOLS;
  return protocol !== null && allowed.includes(protocol);
}

/** What a developer is told when a URL needs an admin. */
export const DEVELOPER_GIT_URL_ADVICE = 'only https:// and http:// URLs are for everyone; git://, ssh://, user@host: and file:// are for admins';

export interface UnprivilegedGitOptions {
  /** A directory from makeCloneDir: git's HOME lives in it, and clones go under it. */
  workDir: string;
  /** GIT_ALLOW_PROTOCOL: what git may use, redirects and submodules included. */
  protocols: readonly string[];
  timeoutMs: number;
  cwd?: string;
}

const asUnprivileged = () => process.getuid?.() === 0;

/**
 * A fresh directory that the unprivileged user owns (with an empty HOME inside); remove it with
 * removeCloneDir. It is made in the system's temporary directory because that user must be able to
 * reach it, and nap's own directories (under NAP_HOME, a task's directory) are root's alone.
 */
export async function makeCloneDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await mkdir(join(dir, 'home'));
  if (asUnprivileged()) {
    await chown(dir, UNPRIVILEGED.uid, UNPRIVILEGED.gid);
    await chown(join(dir, 'home'), UNPRIVILEGED.uid, UNPRIVILEGED.gid);
  }
  return dir;
}

export async function removeCloneDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * An admin's file:// repository is owned by someone else than the unprivileged user, and git 2.39
 * takes safe.directory from no file but the global one: for those clones that file is nap's own,
 * with that one setting.
 */
const LOCAL_CLONE_CONFIG = '[safe]\n\tdirectory = *\n';

/** The environment git gets: nothing of the host's but PATH. */
export function unprivilegedGitEnv(workDir: string, protocols: readonly string[]): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: join(workDir, 'home'),
    XDG_CONFIG_HOME: join(workDir, 'home', '.config'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: protocols.includes('file') ? join(workDir, 'local-clone.gitconfig') : '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: protocols.join(':'),
    // No config file, no agent, no key files, and never a question: an admin's ssh URL works only
    // for a repository that needs no key.
    GIT_SSH_COMMAND: 'ssh -F /dev/null -o BatchMode=yes -o IdentityAgent=none -o IdentitiesOnly=yes -o IdentityFile=/dev/null -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/dev/null',
    LANG: 'C',
  };
}

/**
 * Runs `git ARGS` as the unprivileged user (when nap runs as root; otherwise as nap's own user,
 * which is then no more than that user already is), with no hooks and no credential helper.
 */
export async function runUnprivilegedGit(args: string[], opts: UnprivilegedGitOptions): Promise<{ stdout: string; stderr: string }> {
  const config = ['-c', 'core.hooksPath=/dev/null', '-c', 'credential.helper='];
  if (opts.protocols.includes('file')) {
    config.push('-c', 'protocol.file.allow=always');
    await writeFile(join(opts.workDir, 'local-clone.gitconfig'), LOCAL_CLONE_CONFIG, { mode: 0o644 });
  }
  return await run('git', [...config, ...args], {
    cwd: opts.cwd ?? opts.workDir,
    env: unprivilegedGitEnv(opts.workDir, opts.protocols),
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 4 * 1024 * 1024,
    ...(asUnprivileged() ? UNPRIVILEGED : {}),
  });
}
