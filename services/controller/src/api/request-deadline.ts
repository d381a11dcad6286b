import type { NextFunction, Request, Response } from 'express';
import { NapError } from '@nap/common';

/**
 * Requests that wait on purpose: staging (start, restart, deploy) takes minutes and the CLI waits
 * on the answer, and an upload takes as long as the client's link. Everything else is a few etcd
 * reads and writes, and has `ms` to answer.
 */
const WAITS_ON_PURPOSE = [/^\/v1\/apps\/[^/]+\/(start|restart|deploy|bits)\/?$/, /^\/v1\/buildpacks\/[^/]+\/bits\/?$/];

/**
 * Answers 503 with a clear error when a handler has not answered within `ms` (etcd unreachable, a
 * lock held): the client learns at once and can retry, rather than holding a socket open forever.
 */
export function requestDeadline(ms: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (WAITS_ON_PURPOSE.some((p) => p.test(req.path))) return next();
    const timer = setTimeout(() => {
      if (res.headersSent) return;
      const error = new NapError(503, 'timeout', `the controller took longer than ${Math.round(ms / 1000)} s to answer ${req.method} ${req.path}: try again in a moment`);
      res.setHeader('Retry-After', '1');
      res.setHeader('Connection', 'close');
      res.status(error.status).json(error.toBody());
    }, ms);
    const clear = () => clearTimeout(timer);
    res.once('finish', clear);
    res.once('close', clear);
    next();
  };
}

/**
 * Node's own limits on the HTTP server: a client must send its headers within `headersMs` (slow
 * headers hold a socket and a parser each), and the whole request within `requestMs` (as long as
 * the biggest upload needs). An idle keep-alive connection closes after `keepAliveMs`.
 */
export const serverTimeouts = { headersMs: 10_000, requestMs: 15 * 60_000, keepAliveMs: 5_000, handlerMs: 30_000 } as const;
