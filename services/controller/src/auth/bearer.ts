import { createHash, timingSafeEqual } from 'node:crypto';
import { forbidden, unauthorized } from '@nap/common';
import type { NextFunction, Request, Response } from 'express';
import type { Role, UsersRepository } from '../store/users-repository.js';

export interface Caller {
  name: string;
  role: Role;
}

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * Bearer-token auth: the admin token of the settings (nap up's), or a user's token. The admin
 * token is compared as a digest in constant time; users' tokens are looked up by digest.
 */
export function bearerAuth(adminToken: string, users: UsersRepository) {
  const admin = digest(adminToken);
  return (req: Request, _res: Response, next: NextFunction) => {
    const m = /^Bearer\s+(\S{1,512})$/i.exec(req.headers.authorization ?? '');
    if (!m) return next(unauthorized());
    if (timingSafeEqual(digest(m[1]), admin)) {
      req.caller = { name: 'admin', role: 'admin' };
      return next();
    }
    users
      .byToken(m[1])
      .then((user) => {
        if (!user) return next(unauthorized('invalid token: run `nap login --token TOKEN` with a valid token'));
        req.caller = { name: user.name, role: user.role };
        next();
      })
      .catch(next);
  };
}

/** Constant-time comparison of a presented token with the admin token. */
export function tokenMatches(token: string, adminToken: string): boolean {
  return timingSafeEqual(digest(token), digest(adminToken));
}

/** The caller, who must be an admin: else 403 saying what only an admin may do. */
export function requireAdmin(req: Request, what: string): Caller {
  if (req.caller?.role !== 'admin') throw forbidden(`only an admin may ${what}`);
  return req.caller;
}

/** Apps belong to who made them; an admin may touch them all. */
export function mayTouch(caller: Caller | undefined, owner: string | undefined): boolean {
  return caller?.role === 'admin' || (caller !== undefined && caller.name === (owner ?? 'admin'));
}
