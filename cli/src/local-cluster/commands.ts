import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';

/** Runs a program of the machine (ip, nft, nsenter, docker) and gives its output, or an error naming the command and what it printed. */
export function run(command: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new Error(missing ? `${command} is not installed: run deploy/setup` : `${command} ${args.join(' ')}: ${stderr.trim() || err.message}`));
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** An image of one engine into several: saved once to a file, loaded into each at once (a save per engine would read it N times). */
export async function copyImage(image: string, fromSocket: string, toSockets: string[], file: string): Promise<void> {
  await run('docker', ['-H', `unix://${fromSocket}`, 'save', '-o', file, image], { timeoutMs: 600_000 });
  try {
    await Promise.all(toSockets.map((to) => run('docker', ['-H', `unix://${to}`, 'load', '-q', '-i', file], { timeoutMs: 600_000 })));
  } finally {
    await rm(file, { force: true });
  }
}
