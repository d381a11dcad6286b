import { execFile, type ExecFileOptions } from 'node:child_process';
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const APP_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EMPTY = '.empty.git';

/** git on the controller's own repositories: no system or global config, no hooks, no prompts. */
export function gitEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0', LANG: 'C' };
}

export async function git(args: string[], opts: ExecFileOptions = {}): Promise<string> {
  const { stdout } = await run('git', ['-c', 'core.hooksPath=/dev/null', ...args], { env: gitEnv(), maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...opts });
  return String(stdout);
}

/**
 * The bare repositories behind `git push {api}/git/<app>.git`, one per app and named by the app's
 * id, not its name: a repository belongs to one app, goes with it (remove), and a new app of the
 * same name starts with none. Pushes to one app are serialised (exclusive): each compares refs
 * before and after its receive-pack.
 */
export class GitRepositories {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly root: string) {}

  /** Repositories from before they were named by app id (by app name) outlive their apps: they go. */
  async removeUnowned(): Promise<void> {
    const entries = await readdir(this.root).catch(() => [] as string[]);
    for (const e of entries) {
      if (e !== EMPTY && !APP_ID.test(e.replace(/\.git$/, ''))) await rm(join(this.root, e), { recursive: true, force: true });
    }
  }

  /** The path below root that git http-backend serves for an app. */
  nameOf(appId: string): string {
    if (!APP_ID.test(appId)) throw new Error(`not an app id: ${JSON.stringify(appId)}`);
    return `${appId}.git`;
  }

  dirOf(appId: string): string {
    return join(this.root, this.nameOf(appId));
  }

  /** The app's repository, made empty when it has none yet. */
  async ensure(appId: string): Promise<string> {
    return await this.ensureAt(this.nameOf(appId));
  }

  /** An empty repository that is never written: what a push to an app that does not exist yet is shown. */
  async empty(): Promise<string> {
    return await this.ensureAt(EMPTY);
  }

  async remove(appId: string): Promise<void> {
    await rm(this.dirOf(appId), { recursive: true, force: true });
  }

  async exclusive<T>(appId: string, work: () => Promise<T>): Promise<T> {
    const before = this.locks.get(appId) ?? Promise.resolve();
    const mine = before.catch(() => {}).then(work);
    this.locks.set(appId, mine);
    try {
      return await mine;
    } finally {
      if (this.locks.get(appId) === mine) this.locks.delete(appId);
    }
  }

  private async ensureAt(name: string): Promise<string> {
    const dir = join(this.root, name);
    try {
      await access(join(dir, 'HEAD'));
    } catch {
      await mkdir(this.root, { recursive: true, mode: 0o700 });
      // No template: no sample hooks, nothing but what git needs.
      await git(['init', '--quiet', '--bare', '--template=', dir]);
      await git(['-C', dir, 'config', 'http.receivepack', 'true']);
      await git(['-C', dir, 'config', 'receive.fsckObjects', 'true']);
    }
    return name;
  }
}
