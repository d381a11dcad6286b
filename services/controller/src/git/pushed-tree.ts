import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppConfigError, checkAppConfigFile } from '@nap/common';
import { git, gitEnv } from './repositories.js';

/**
 * A pushed commit read from git's objects, never from a checkout: nothing of the tenant's tree is
 * ever on the controller's disk, so a link in it points at nothing the controller would follow.
 */
export class PushedTree {
  constructor(
    private readonly repo: string,
    readonly commit: string,
  ) {}

  /**
   * The text of one of nap's own files at the root of the tree, or null when there is none. A link
   * (mode 120000), a directory, a submodule or a file too big is refused before its content is read.
   */
  async configFile(file: string): Promise<string | null> {
    const out = await git(['-C', this.repo, 'ls-tree', '-z', this.commit, '--', file]);
    const entry = out.split('\0').find((e) => e.endsWith(`\t${file}`));
    if (!entry) return null;
    const [mode, type, id] = entry.slice(0, entry.indexOf('\t')).split(' ');
    const kind = mode === '120000' ? 'symlink' : type === 'blob' && (mode === '100644' || mode === '100755') ? 'file' : 'other';
    const size = kind === 'file' ? Number((await git(['-C', this.repo, 'cat-file', '-s', id])).trim()) : 0;
    checkAppConfigFile(file, kind, size);
    return await git(['-C', this.repo, 'cat-file', 'blob', id]);
  }

  /** Every path in the tree (files, links, submodules), relative and `/`-separated. */
  async paths(): Promise<string[]> {
    const out = await git(['-C', this.repo, 'ls-tree', '-r', '-z', '--name-only', '--full-tree', this.commit]);
    return out.split('\0').filter((p) => p.length > 0);
  }

  /**
   * Packs the tree as a gzip'd tar (`git archive`) into `file`, leaving out `dropped`: they are taken
   * out of a scratch index made from the commit, whose tree is then archived. Refused (and nothing
   * kept) past `limitBytes`, as an upload would be.
   */
  async pack(file: string, dropped: string[], scratchDir: string, limitBytes: number, timeoutMs: number): Promise<void> {
    let treeish = `${this.commit}^{tree}`;
    if (dropped.length > 0) {
      const env = { ...gitEnv(), GIT_INDEX_FILE: join(scratchDir, 'index') };
      await git(['-C', this.repo, 'read-tree', this.commit], { env });
      await gitWithInput(['-C', this.repo, 'update-index', '--force-remove', '-z', '--stdin'], env, `${dropped.join('\0')}\0`);
      treeish = (await git(['-C', this.repo, 'write-tree'], { env })).trim();
      await rm(join(scratchDir, 'index'), { force: true });
    }
    const archive = spawn('git', ['-C', this.repo, 'archive', '--format=tar.gz', treeish], { env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stderr = '';
    archive.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    const exited = new Promise<number | null>((resolve) => archive.on('close', resolve));
    let written = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        written += chunk.length;
        if (written > limitBytes) done(new AppConfigError(`the pushed tree packs to more than ${Math.round(limitBytes / 1024 / 1024)} MB, the upload limit: leave big files out with .napignore`));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(archive.stdout, limit, createWriteStream(file));
    } catch (err) {
      archive.kill('SIGKILL');
      await rm(file, { force: true });
      throw err;
    }
    const code = await exited;
    if (code !== 0) throw new Error(`git archive failed (${code}): ${stderr.trim().split('\n').pop() ?? ''}`);
  }
}

function gitWithInput(args: string[], env: NodeJS.ProcessEnv, input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git ${args.join(' ')} failed: ${stderr.trim()}`))));
    child.stdin.end(input);
  });
}

export { AppConfigError };
