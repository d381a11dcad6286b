import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { NapError } from '@nap/common';
import type { Request, Response } from 'express';

/** Streams read through the controller at once, in all and per caller: no one tenant takes them all. */
const MAX_PROXIED = 256;
const MAX_PER_CALLER = 64;
let proxied = 0;
const perCaller = new Map<string, number>();
const PASSED_ON = ['content-type', 'content-length', 'content-range', 'accept-ranges'] as const;

/**
 * A signed directory-server URL read through the controller, for a browser on the API's origin
 * (the dashboard: its page may call nothing else, and directory servers answer no CORS). The
 * URL is one the controller made itself, for a DEA it knows, never one a caller gave; a Range is
 * passed on, and a followed log streams until the caller goes away. `ca`: the cluster's CA, when
 * directory servers speak TLS.
 */
export function proxyDirectory(url: string, req: Request, res: Response, ca: Buffer | undefined): void {
  if (proxied >= MAX_PROXIED) throw new NapError(503, 'too_many_streams', `this controller already streams ${MAX_PROXIED} logs: close some, or try again in a moment`);
  const caller = req.caller?.name ?? '';
  const mine = perCaller.get(caller) ?? 0;
  if (mine >= MAX_PER_CALLER) throw new NapError(503, 'too_many_streams', `you already read ${MAX_PER_CALLER} logs through this controller at once: close some (other tabs of the dashboard), or try again in a moment`);
  proxied++;
  perCaller.set(caller, mine + 1);
  let done = false;
  const release = () => {
    if (done) return;
    done = true;
    proxied--;
    const left = (perCaller.get(caller) ?? 1) - 1;
    if (left > 0) perCaller.set(caller, left);
    else perCaller.delete(caller);
  };
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const upstream = send(target, { headers: req.headers.range ? { Range: req.headers.range } : {}, ...(ca ? { ca } : {}), timeout: 10_000 }, (answer) => {
    upstream.setTimeout(0);
    res.status(answer.statusCode ?? 502);
    for (const h of PASSED_ON) if (answer.headers[h]) res.setHeader(h, answer.headers[h]!);
    res.setHeader('Cache-Control', 'no-store');
    answer.pipe(res);
    answer.once('end', release);
    answer.once('error', () => res.destroy());
  });
  upstream.on('timeout', () => upstream.destroy(new Error('the directory server did not answer within 10 s')));
  upstream.on('error', (err) => {
    release();
    if (res.headersSent) return void res.destroy();
    res.status(502).json(new NapError(502, 'directory_unreachable', `the node holding that log does not answer (${err.message}): try again in a moment`).toBody());
  });
  res.once('close', () => {
    release();
    upstream.destroy();
  });
  upstream.end();
}
