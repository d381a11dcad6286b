import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadSettings } from '@nap/common/without-engines';

export interface CliConfig {
  api?: string;
  token?: string;
  /** The CA of an https API (PEM), checked against its pin when it was targeted. */
  ca?: string;
}

export function configPath(): string {
  return join(loadSettings().home, 'config.json');
}

export async function readConfig(): Promise<CliConfig> {
  try {
    return JSON.parse(await readFile(configPath(), 'utf8')) as CliConfig;
  } catch {
    return {};
  }
}

export async function writeConfig(update: CliConfig): Promise<void> {
  const file = configPath();
  const config = { ...(await readConfig()), ...update };
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

/** Where the CLI talks to and as whom: NAP_API and NAP_TOKEN win over the saved config. */
export async function target(): Promise<{ api: string; token: string | undefined; ca: string | undefined }> {
  const config = await readConfig();
  const api = process.env.NAP_API || config.api;
  if (!api) throw new CliError('no API targeted: run `nap target URL` (or `nap up` for a local nap)');
  return { api: api.replace(/\/+$/, ''), token: process.env.NAP_TOKEN || config.token, ca: config.ca };
}

/** An error whose message is all the user needs: printed without a stack, exit 1. */
export class CliError extends Error {}
