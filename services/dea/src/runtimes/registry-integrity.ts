import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { IntegrityOf } from './runtime-store.js';

const run = promisify(execFile);
const INTEGRITY = /^sha512-[A-Za-z0-9+/]{86}==$/;

/**
 * The registry's integrity of a package version, asked with this machine's own npm (its registry,
 * proxy and CA as the operator configured them), so nap never names a registry itself.
 */
export const registryIntegrity: IntegrityOf = async (name, version) => {
  let stdout: string;
  try {
    ({ stdout } = await run('npm', ['view', `${name}@${version}`, 'dist.integrity'], { timeout: 60_000, maxBuffer: 64 * 1024 }));
  } catch (err) {
    throw new Error(`could not ask the npm registry for the integrity of ${name} ${version}: ${(err as Error).message.split('\n')[0]}`);
  }
  const integrity = stdout.trim();
  if (!INTEGRITY.test(integrity)) throw new Error(`the npm registry gave no sha512 integrity for ${name} ${version} (got ${JSON.stringify(integrity.slice(0, 60))})`);
  return integrity;
};
