import { etcdSpaceExceeded, type Logger, NapError, RepeatedFailureLog, storageExhausted, unavailableEngine } from '@nap/common';
import type { NextFunction, Request, Response } from 'express';
import { ZodError } from 'zod';

/** A body that does not have the shape asked for: 400, naming each field and what is wrong with it. */
export function invalidRequest(err: ZodError): NapError {
  return new NapError(400, 'invalid_request', err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
}

export function notFoundHandler(req: Request, _res: Response, next: NextFunction): void {
  next(new NapError(404, 'not_found', `no such endpoint: ${req.method} ${req.path}`));
}

export const ETCD_FULL =
  "etcd's space quota is used up, so nap cannot store changes now (reads still work). An admin frees it: etcdctl compact <revision>, etcdctl defrag, etcdctl alarm disarm (docs/contract.md §12)";

/** What a 507 says when the bytes of an upload (a push, a staging's droplet) have nowhere to go. */
export const NO_ROOM_FOR_UPLOAD = {
  blobstore:
    "the blobstore (NATS JetStream) has no room for this upload, so nothing of it was kept and the app is unchanged. An admin frees room: delete apps nobody uses (their packages and droplets go with them), or give JetStream more disk (its store_dir, max_file_store) and restart nats-server",
  disk: "the controller's disk is full, so nothing of this upload was kept and the app is unchanged. An admin frees space on the controller's temp directory's disk",
} as const;

/** Seconds a client is told to wait when an engine is away: nap reconnects within about that. */
const ENGINE_RETRY_AFTER_S = 2;

/**
 * Every error leaves as CONTRACT §2's `{error: {code, message}}`; unexpected ones are logged, not
 * shown. An engine that is away (etcd, NATS) is a 503 with Retry-After naming it, logged once a
 * minute however many requests meet it.
 */
export function errorHandler(log: Logger) {
  const engineFailures = new RepeatedFailureLog(log);
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let error: NapError;
    const engine = unavailableEngine(err);
    if (err instanceof NapError) error = err;
    else if (etcdSpaceExceeded(err)) {
      engineFailures.failed('requests failed: etcd is out of space', err, { method: req.method, path: req.path });
      error = new NapError(507, 'storage_full', ETCD_FULL);
    } else if (storageExhausted(err)) {
      const where = storageExhausted(err)!;
      engineFailures.failed(`requests failed: no room in the ${where}`, err, { method: req.method, path: req.path });
      error = new NapError(507, 'storage_full', NO_ROOM_FOR_UPLOAD[where]);
    } else if (engine) {
      engineFailures.failed(`requests failed: ${engine} is not answering`, err, { method: req.method, path: req.path });
      error = new NapError(503, 'engine_unavailable', `${engine} is not answering, so the controller cannot serve this now; nap reconnects by itself: try again in a few seconds`);
      if (!res.headersSent) res.setHeader('Retry-After', String(ENGINE_RETRY_AFTER_S));
    }
    else if (err instanceof ZodError) {
      error = invalidRequest(err);
    } else if (typeof err === 'object' && err !== null && 'type' in err && (err as { type: string }).type === 'entity.parse.failed') {
      error = new NapError(400, 'invalid_json', 'the request body is not valid JSON');
    } else if (typeof err === 'object' && err !== null && 'type' in err && (err as { type: string }).type === 'entity.too.large') {
      error = new NapError(413, 'too_large', 'the request body is too large');
    } else {
      log.error({ err, method: req.method, path: req.path }, 'request failed');
      error = new NapError(500, 'internal', 'internal error; the controller log has the details');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(error.status).json(error.toBody());
  };
}
