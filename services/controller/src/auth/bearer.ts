import { createHash, timingSafeEqual } from 'node:crypto';
import { unauthorized } from '@nap/common';
import type { NextFunction, Request, Response } from 'express';

export interface Caller {
  name: string;
  role: 'admin' | 'developer';
}

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Bearer-token auth. Tokens are compared as digests in constant time, whatever their length. */
export function bearerAuth(adminToken: string) {
  const admin = digest(adminToken);
  return (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return next(unauthorized());
    if (!timingSafeEqual(digest(m[1]), admin)) return next(unauthorized('invalid token: run `nap login --token TOKEN` with a valid token'));
    req.caller = { name: 'admin', role: 'admin' };
    next();
  };
}
