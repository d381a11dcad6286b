import { spawn } from 'node:child_process';

export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  seconds: number;
  headers?: Record<string, string>;
}

export interface WrkResult {
  /** Answers with a 2xx or 3xx per second: a fast error page is no throughput. */
  requestsPerSec: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses. */
  errors: number;
  /** What the errors were, as wrk counts them ('' when none). */
  errorKinds: string;
  output: string;
}

const unitMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** wrk prints durations as e.g. `812.00us`, `1.07ms`, `2.01s`. */
export function parseDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`cannot read wrk duration ${JSON.stringify(text)}`);
  return Number(m[1]) * unitMs[m[2]];
}

/** Reads requests/s, p50/p99 (needs --latency) and errors from wrk's report. */
export function parseWrk(output: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  const p50 = /^\s+50%\s+(\S+)/m.exec(output);
  const p99 = /^\s+99%\s+(\S+)/m.exec(output);
  const total = /^\s+(\d+) requests in /m.exec(output);
  if (!rps || !p50 || !p99 || !total) throw new Error(`cannot read wrk's report:\n${output}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const errors = (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  const requests = Number(total[1]);
  const bad = non2xx ? Number(non2xx[1]) : 0;
  const kinds = [socket ? `socket ${socket.slice(1).join('/')} (connect/read/write/timeout)` : '', bad ? `${bad} non-2xx/3xx` : ''].filter(Boolean).join(', ');
  return {
    requestsPerSec: requests > 0 ? (Number(rps[1]) * (requests - bad)) / requests : 0,
    p50: parseDuration(p50[1]),
    p99: parseDuration(p99[1]),
    requests,
    errors,
    errorKinds: kinds,
    output,
  };
}

export function wrkArgs(o: WrkOptions): string[] {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(o.url);
  return args;
}

/** Runs wrk to completion (a child of this process, gone when it returns) and parses its report. */
export function runWrk(o: WrkOptions): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', wrkArgs(o), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited with ${code}: ${err || out}`));
      try {
        resolve(parseWrk(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}
