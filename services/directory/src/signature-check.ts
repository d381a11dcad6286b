import type { RequestHandler, Response } from 'express';
import { badRequest, NapError, resourceBase, verifySignature, type DirectoryResource, type SignatureCheck } from '@nap/common';
import { resourceOf } from './resources.js';

/** What a verified signed URL asks for: `path` decoded, `tail` (which the signature does not cover). */
export interface SignedRequest {
  resource: DirectoryResource;
  path: string;
  tail: boolean;
}

/**
 * The query values exactly as they stand in the URL, still percent-encoded, first occurrence of
 * each key. The signature covers the encoded `path`, so a decoding query parser (which would also
 * accept `+`, repeated keys, arrays…) must not be what is checked; and the very value checked is
 * the one later decoded and served, so a second `path=` cannot smuggle another file past it.
 */
export function rawQuery(url: string): Map<string, string> {
  const values = new Map<string, string>();
  const q = url.indexOf('?');
  if (q === -1) return values;
  for (const pair of url.slice(q + 1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? '' : pair.slice(eq + 1);
    if (!values.has(key)) values.set(key, value);
  }
  return values;
}

const refusals: Record<Exclude<SignatureCheck, 'ok'>, string> = {
  missing: 'a signed URL needs path, timestamp and hmac',
  bad_signature: 'the URL signature does not match',
  expired: 'the signed URL has expired (URLs are valid for 300 s); ask the controller for a new one',
  from_the_future: 'the signed URL is dated more than 30 s ahead; check the clocks of the controller and this DEA',
};

/** CONTRACT §7: 401 unless the URL was signed under the directory secret within the last 300 s. */
export function signatureCheck(secret: string, clock: () => number): RequestHandler {
  return (req, res, next) => {
    const resource = resourceOf(res);
    const raw = rawQuery(req.originalUrl);
    const check = verifySignature(
      secret,
      resourceBase(resource),
      { path: raw.get('path'), timestamp: raw.get('timestamp'), hmac: raw.get('hmac') },
      clock(),
    );
    if (check !== 'ok') throw new NapError(401, check, refusals[check]);
    let path: string;
    try {
      path = decodeURIComponent(raw.get('path') as string);
    } catch {
      throw badRequest('bad_path', 'path is not valid percent-encoding');
    }
    const signed: SignedRequest = { resource, path, tail: raw.get('tail') === 'true' };
    res.locals.signed = signed;
    next();
  };
}

export function signedRequestOf(res: Response): SignedRequest {
  return res.locals.signed as SignedRequest;
}
