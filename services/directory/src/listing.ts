import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A directory as plain text, one `name<TAB>size` line per entry, directories with a trailing `/`,
 * sorted by name. Entries are lstat'ed, so a symlink shows its own size and never reveals anything
 * about where it points.
 */
export async function directoryListing(dir: string): Promise<string> {
  const names = (await readdir(dir)).sort();
  const lines = await Promise.all(
    names.map(async (name) => {
      try {
        const stats = await lstat(join(dir, name));
        return `${name}${stats.isDirectory() ? '/' : ''}\t${stats.size}\n`;
      } catch {
        return ''; // removed while listing
      }
    }),
  );
  return lines.join('');
}
