import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { nodeSettingsFile } from '@nap/common';
import { parse, stringify } from 'yaml';

/** What this node's settings file holds (none when there is no file). */
export async function readNodeSettings(home: string): Promise<Record<string, string>> {
  const text = await readFile(nodeSettingsFile(home), 'utf8').catch(() => '');
  return ((text ? parse(text) : null) ?? {}) as Record<string, string>;
}

/** Merges `values` into this node's settings file (NAP_HOME/node.yaml), which every program of the node reads. */
export async function updateNodeSettings(home: string, values: Record<string, string>): Promise<void> {
  const file = nodeSettingsFile(home);
  const current = await readNodeSettings(home);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, stringify({ ...current, ...values }), { mode: 0o600 });
  await chmod(file, 0o600);
}
