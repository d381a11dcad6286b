import type { Address, Endpoint } from '../table/endpoint.js';
import type { EndpointPool } from '../table/endpoint-pool.js';
import { canTake } from './strategy.js';

/**
 * Sticky sessions as Cloud Foundry does them: when an app sets `JSESSIONID`, the router sets
 * `__VCAP_ID__` to the instance's private id, and a request carrying it goes back to that
 * instance while it is in the pool and can take it.
 */
export const stickyCookie = '__VCAP_ID__';
export const sessionCookie = 'JSESSIONID';

/** The `__VCAP_ID__` value of a Cookie header, or undefined. */
export function stickyInstanceId(cookieHeader: string | undefined): string | undefined {
  if (cookieHeader === undefined) return undefined;
  const at = cookieHeader.indexOf(`${stickyCookie}=`);
  if (at === -1) return undefined;
  // Only at the start of a cookie-pair, not inside another cookie's name.
  if (at > 0) {
    const before = cookieHeader.charCodeAt(at - 1);
    if (before !== 32 && before !== 59) return undefined;
  }
  const start = at + stickyCookie.length + 1;
  const end = cookieHeader.indexOf(';', start);
  const value = (end === -1 ? cookieHeader.slice(start) : cookieHeader.slice(start, end)).trim();
  return value === '' ? undefined : value;
}

export function stickyEndpoint(
  pool: EndpointPool,
  instanceId: string,
  maxInFlight: number,
  tried: readonly Address[] | undefined,
): Endpoint | undefined {
  const e = pool.byInstanceId(instanceId);
  return e !== undefined && canTake(e, maxInFlight, tried) ? e : undefined;
}

/**
 * The Set-Cookie for `__VCAP_ID__` that goes with the app's `JSESSIONID` cookie: the same Path,
 * Domain, Max-Age, Expires, Secure and SameSite, and always HttpOnly (scripts have no use for it).
 * Without a session cookie to copy from, a session cookie for the whole site.
 */
export function vcapIdCookie(instanceId: string, sessionSetCookie?: string): string {
  let cookie = `${stickyCookie}=${instanceId}`;
  let hasPath = false;
  if (sessionSetCookie !== undefined) {
    const parts = sessionSetCookie.split(';');
    for (let i = 1; i < parts.length; i++) {
      const attr = parts[i].trim();
      const name = attr.split('=', 1)[0].toLowerCase();
      if (name === 'path') hasPath = true;
      if (name === 'path' || name === 'domain' || name === 'max-age' || name === 'expires' || name === 'secure' || name === 'samesite') {
        cookie += `; ${attr}`;
      }
    }
  }
  if (!hasPath) cookie += '; Path=/';
  return `${cookie}; HttpOnly`;
}

/** The app's own `Set-Cookie: JSESSIONID=…` among a response's Set-Cookie headers. */
export function sessionSetCookie(setCookie: string | string[] | undefined): string | undefined {
  if (setCookie === undefined) return undefined;
  const list = Array.isArray(setCookie) ? setCookie : [setCookie];
  for (const c of list) if (c.trimStart().startsWith(`${sessionCookie}=`)) return c;
  return undefined;
}
