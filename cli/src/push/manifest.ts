import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { AppConfigError, checkAppConfigFile, MANIFEST_FILES, type ManifestApp, parseManifest, parseProfile, PROFILE_FILE } from '@nap/common/without-engines';
import { CliError } from '../config.js';

export { appBody, type ManifestApp } from '@nap/common/without-engines';

/**
 * The text of one of nap's own files in `dir` (manifest, profile, .napignore), or null when there
 * is none. Opened without following a link, so a `profile` that points at a secret is refused
 * instead of read, and its content never reaches an error message.
 */
export async function readAppConfigFile(dir: string, file: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(join(dir, file), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    if (code === 'ELOOP') throw new CliError(new AppConfigError(`${file} is a symbolic link: make it a regular file (nap reads no links for its own files)`).message);
    throw new CliError(`${file} cannot be read (${code ?? 'error'})`);
  }
  try {
    const info = await handle.stat();
    try {
      checkAppConfigFile(file, info.isFile() ? 'file' : 'other', info.size);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof AppConfigError) throw new CliError(err.message);
    throw err;
  }
}

/** The applications of the first of MANIFEST_FILES in `dir`, else of its `profile`; none when there is neither. */
export async function readManifest(dir: string): Promise<ManifestApp[]> {
  for (const file of MANIFEST_FILES) {
    const text = await readAppConfigFile(dir, file);
    if (text !== null) return parsed(() => parseManifest(file, text));
  }
  const profile = await readAppConfigFile(dir, PROFILE_FILE);
  return profile === null ? [] : parsed(() => parseProfile(profile));
}
