import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { packArchive } from '@nap/common';
import ignore from 'ignore';
import { CliError } from '../config.js';

/** Never uploaded: version control, local dependencies (the buildpack installs them) and the manifest tooling's own files. */
const ALWAYS_IGNORED = ['.git/', '.svn/', '.hg/', 'node_modules/', '.napignore', '.cfignore', '.DS_Store'];

async function readIgnoreFile(dir: string): Promise<string> {
  for (const f of ['.napignore', '.cfignore']) {
    try {
      return await readFile(join(dir, f), 'utf8');
    } catch {
      // try the next
    }
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
  const rules = ignore().add(ALWAYS_IGNORED).add(await readIgnoreFile(dir));
  const files: string[] = [];
  await walk(dir, dir, (rel, isDir) => !rules.ignores(isDir ? `${rel}/` : rel), files);
  if (files.length === 0) throw new CliError(`there is nothing to push in ${dir} (is everything in .napignore?)`);
  await packArchive(dir, file, files.sort());
  return files.length;
}
