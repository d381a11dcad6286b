import { copyFile, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';

/** A program's log past this is rotated (NAP_LOG_MAX_MB). */
const DEFAULT_MAX_MB = 50;
/** Rotated files kept beside each log: name.log.1 (newest) … name.log.KEEP. */
const KEEP = 2;

/**
 * Rotates every `*.log` in `dir` that grew past its limit, by copy and truncate: the programs
 * write with O_APPEND to a descriptor they were given at their start, which a rename would leave
 * pointing at the old file. What a program writes between the copy and the truncate (a few ms)
 * is lost; that is the price of never restarting a program for its log.
 */
export async function rotateLogs(dir: string, maxBytes = maxLogBytes()): Promise<string[]> {
  const rotated: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.log')) continue;
    const file = join(dir, name);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile() || info.size <= maxBytes) continue;
    await rm(`${file}.${KEEP}`, { force: true });
    for (let i = KEEP - 1; i >= 1; i--) await rename(`${file}.${i}`, `${file}.${i + 1}`).catch(() => {});
    await copyFile(file, `${file}.1`);
    await truncate(file, 0);
    rotated.push(name);
  }
  return rotated;
}

function maxLogBytes(): number {
  const mb = Number(process.env.NAP_LOG_MAX_MB);
  return (Number.isFinite(mb) && mb > 0 ? mb : DEFAULT_MAX_MB) * 1024 * 1024;
}
