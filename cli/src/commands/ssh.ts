import { rootCertificates } from 'node:tls';
import WebSocket from 'ws';
import type { ApiClient } from '../api-client.js';
import type { Output } from '../output.js';

export interface SshOptions {
  index: number;
  command?: string;
  processType?: string;
}

/**
 * nap ssh NAME [-i INDEX] [-c COMMAND]: a shell (or one command) in a running instance, over a
 * websocket to the controller (see services/controller/src/api/ssh-gateway.ts). On a terminal the
 * shell gets one too, raw, resized with the window; otherwise stdin is passed as it comes (a
 * script piped in). Exits with the remote command's status.
 */
export async function ssh(api: ApiClient, out: Output, app: string, opts: SshOptions): Promise<void> {
  const tty = opts.command === undefined && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const url = new URL(`/v1/apps/${encodeURIComponent(app)}/ssh`, api.api.replace(/^http/, 'ws'));
  url.searchParams.set('index', String(opts.index));
  if (opts.processType) url.searchParams.set('process_type', opts.processType);
  if (opts.command !== undefined) url.searchParams.set('command', opts.command);
  if (tty) {
    url.searchParams.set('tty', '1');
    url.searchParams.set('cols', String(process.stdout.columns ?? 80));
    url.searchParams.set('rows', String(process.stdout.rows ?? 24));
  }
  const ws = new WebSocket(url, { headers: api.authHeaders(), ...(api.ca ? { ca: [...rootCertificates, api.ca] } : {}) });
  await new Promise<void>((resolve, reject) => {
    let status: number | null = null;
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        let message = body;
        try {
          message = (JSON.parse(body) as { error: { message: string } }).error.message;
        } catch {
          // as it came
        }
        reject(new Error(message || `the API answered ${res.statusCode}`));
      });
    });
    ws.on('error', (err) => reject(err));
    ws.on('open', () => {
      if (tty) {
        process.stdin.setRawMode(true);
        process.stdout.on('resize', () => ws.send(JSON.stringify({ resize: { cols: process.stdout.columns, rows: process.stdout.rows } })));
      }
      if (opts.command === undefined) {
        process.stdin.on('data', (d: Buffer) => ws.send(d));
        process.stdin.on('end', () => ws.send(JSON.stringify({ eof: true })));
      }
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return void process.stdout.write(data as Buffer);
      const control = JSON.parse(data.toString()) as { exit?: number | null; error?: string };
      if (control.error) out.progress(`nap: ${control.error}`);
      status = control.exit ?? (control.error ? 1 : null);
    });
    ws.on('close', () => {
      if (tty) process.stdin.setRawMode(false);
      process.stdin.pause();
      process.exitCode = status ?? 0;
      resolve();
    });
  });
}
