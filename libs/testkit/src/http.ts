import { type IncomingMessage, request, type RequestOptions } from 'node:http';
import { request as requestTls } from 'node:https';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A plain HTTP request with an explicit Host header, as a client of the router sends. It fails after
 * `silentMs` without a byte either way (longer for a call that stages before it answers).
 */
export function httpGet(url: string, headers: Record<string, string> = {}, method = 'GET', body?: Buffer | string, silentMs = 30_000, tls: { ca?: string } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    // An https URL is one of a cluster's servers: checked against the cluster's CA when given.
    const send = url.startsWith('https:') ? (u: string, o: RequestOptions, cb: (res: IncomingMessage) => void) => requestTls(u, { ...o, ca: tls.ca }, cb) : request;
    const req = send(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(silentMs, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.end(body);
  });
}

/** Polls `probe` until it returns a value, or fails with the last error after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Requests through the router to `host`, one after another until stopped; what failed is kept. */
export function requestLoop(routerUrl: string, host: string): { stop(): Promise<{ requests: number; failures: string[] }> } {
  let requests = 0;
  let going = true;
  const failures: string[] = [];
  const done = (async () => {
    while (going) {
      const r = await httpGet(`${routerUrl}/`, { Host: host }).catch((e: Error) => ({ status: 0, body: e.message }));
      requests++;
      if (r.status !== 200) failures.push(`${r.status} ${r.body.slice(0, 100)}`);
    }
  })();
  return {
    async stop() {
      going = false;
      await done;
      return { requests, failures };
    },
  };
}
