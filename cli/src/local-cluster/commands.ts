import { execFile } from 'node:child_process';

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
