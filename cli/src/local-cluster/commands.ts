import { execFile, spawn } from 'node:child_process';

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

/** `docker save FROM | docker load` into another engine, without a file in between. */
export function copyImage(image: string, fromSocket: string, toSocket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const save = spawn('docker', ['-H', `unix://${fromSocket}`, 'save', image], { stdio: ['ignore', 'pipe', 'pipe'] });
    const load = spawn('docker', ['-H', `unix://${toSocket}`, 'load', '-q'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    save.stderr!.on('data', (d: Buffer) => (err += d));
    load.stderr!.on('data', (d: Buffer) => (err += d));
    save.stdout!.pipe(load.stdin!);
    let saved: number | null = null;
    save.once('close', (code) => (saved = code));
    load.once('close', (code) =>
      code === 0 && saved === 0 ? resolve() : reject(new Error(`copying ${image} to ${toSocket} failed: ${err.trim() || `exit ${saved}/${code}`}`)),
    );
    save.once('error', reject);
    load.once('error', reject);
  });
}
