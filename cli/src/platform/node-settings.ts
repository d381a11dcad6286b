import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { nodeSettingsFile } from '@nap/common';
import { parse, stringify } from 'yaml';

/** Merges `values` into this node's settings file (NAP_HOME/node.yaml), which every program of the node reads. */
export async function updateNodeSettings(home: string, values: Record<string, string>): Promise<void> {
  const file = nodeSettingsFile(home);
  const text = await readFile(file, 'utf8').catch(() => '');
  const current = (text ? parse(text) : {}) as Record<string, string>;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, stringify({ ...current, ...values }), { mode: 0o600 });
  await chmod(file, 0o600);
}
