import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** NAP_DEA_ID, or an id made once and kept in the DEA's directory, so a restarted DEA is the same DEA. */
export async function deaIdentity(configured: string | undefined, deaDir: string): Promise<string> {
  if (configured) return configured;
  const file = join(deaDir, 'dea.id');
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (/^[A-Za-z0-9_-]{1,64}$/.test(id)) return id;
  } catch {
    // first start
  }
  const id = randomUUID();
  await writeFile(file, `${id}\n`);
  return id;
}
