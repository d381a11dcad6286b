import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { IGNORE_FILES, packArchive, uploadFilter } from '@nap/common/without-engines';
import { CliError } from '../config.js';
import { readAppConfigFile } from './manifest.js';

async function readIgnoreFile(dir: string): Promise<string> {
  for (const f of IGNORE_FILES) {
    const text = await readAppConfigFile(dir, f);
    if (text !== null) return text;
  }
  return '';
}

async function walk(root: string, dir: string, keep: (rel: string, isDir: boolean) => boolean, out: string[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    const rel = relative(root, full).split(sep).join('/');
    const isDir = entry.isDirectory();
    if (!keep(rel, isDir)) continue;
    if (isDir) await walk(root, full, keep, out);
    else if (entry.isFile() || entry.isSymbolicLink()) out.push(rel);
  }
}

/** Packs an app directory for upload, honouring .napignore (or .cfignore), and returns how many files went in. */
export async function packApp(dir: string, file: string): Promise<number> {
  const files: string[] = [];
  await walk(dir, dir, uploadFilter(await readIgnoreFile(dir)), files);
  if (files.length === 0) throw new CliError(`there is nothing to push in ${dir} (is everything in .napignore?)`);
  await packArchive(dir, file, files.sort());
  return files.length;
}
