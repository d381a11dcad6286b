import { spawn } from 'node:child_process';
import { repoRoot } from './platform.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the real `nap` binary as a user would, against the given environment. */
export function nap(args: string[], env: Record<string, string>): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${repoRoot}cli/bin/nap.js`, ...args], { env: { ...process.env, ...env }, cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started }));
  });
}
