import type { RequestHead } from '../http1/request-parser.js';

/** gorouter tries at most three endpoints per request. */
export const maxAttempts = 3;

/**
 * A request can go to a second endpoint only if the first one cannot have consumed any of it.
 * The body stream is read once; rather than buffer bodies, only bodyless requests are replayed.
 */
export function isReplayable(head: RequestHead): boolean {
  return !head.chunked && head.contentLength <= 0;
}

const idempotent = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The connection never reached an app: no request was processed, and the endpoint is marked failing. */
const dialFailures = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EADDRNOTAVAIL']);

export function isDialFailure(err: NodeJS.ErrnoException): boolean {
  return err.code !== undefined && dialFailures.has(err.code);
}

/**
 * A reset before any response usually means the app closed an idle keep-alive socket just as
 * the router reused it, but the app may also have died while handling the request: only
 * idempotent requests retry then.
 */
const resetFailures = new Set(['ECONNRESET', 'EPIPE']);

export function shouldRetry(err: NodeJS.ErrnoException, head: RequestHead): boolean {
  if (!isReplayable(head) || err.code === undefined) return false;
  if (dialFailures.has(err.code)) return true;
  return resetFailures.has(err.code) && idempotent.has(head.method);
}
