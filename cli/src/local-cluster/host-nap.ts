import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalHost } from './cluster-state.js';

const napBin = new URL('../../../bin/nap.js', import.meta.url).pathname;

/** The environment of nap on a host: none of the caller's NAP_ settings, only the host's home (its node.yaml says the rest). */
export function hostEnv(host: LocalHost): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NAP_')));
  return { ...env, NAP_HOME: host.napHome };
}

/** Runs `nap ARGS --json` inside the host's network namespace, as a user of that host would. */
export function napOnHost<T>(host: LocalHost, args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 300_000): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      'nsenter',
      [`--net=/var/run/netns/${host.netns}`, process.execPath, napBin, ...args, '--json'],
      { env: { ...hostEnv(host), ...extraEnv }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`nap ${args.join(' ')} on host ${host.index} failed: ${stderr.trim() || err.message}`));
        try {
          resolve(JSON.parse(stdout) as T);
        } catch {
          reject(new Error(`nap ${args.join(' ')} on host ${host.index} printed no JSON: ${stdout.slice(0, 500)}`));
        }
      },
    );
  });
}

export async function adminToken(host: LocalHost): Promise<string> {
  return (await readFile(join(host.napHome, 'admin.token'), 'utf8')).trim();
}
