import { createHmac, timingSafeEqual } from 'node:crypto';

/** CONTRACT §7: signed, expiring URLs for the directory server. */
export const SIGNATURE_MAX_AGE_S = 300;
export const SIGNATURE_MAX_SKEW_S = 30;

export type DirectoryResource = { kind: 'instance'; instanceId: string } | { kind: 'staging'; taskId: string } | { kind: 'task'; taskId: string };

export function resourceBase(resource: DirectoryResource): string {
  if (resource.kind === 'instance') return `/instance_paths/${resource.instanceId}`;
  return resource.kind === 'staging' ? `/staging_tasks/${resource.taskId}` : `/task_runs/${resource.taskId}`;
}

/** The exact string that is signed: the path stays encoded exactly as it stands in the URL. */
function signedString(base: string, encodedPath: string, timestamp: string): string {
  return `${base}?path=${encodedPath}&timestamp=${timestamp}`;
}

function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

export function signedUrl(
  secret: string,
  directoryUrl: string,
  resource: DirectoryResource,
  path: string,
  opts: { now?: number; tail?: boolean } = {},
): string {
  const base = resourceBase(resource);
  const encodedPath = encodeURIComponent(path);
  const timestamp = String(Math.floor((opts.now ?? Date.now()) / 1000));
  const hmac = hmacHex(secret, signedString(base, encodedPath, timestamp));
  const tail = opts.tail ? '&tail=true' : '';
  return `${directoryUrl.replace(/\/+$/, '')}${base}?path=${encodedPath}&timestamp=${timestamp}&hmac=${hmac}${tail}`;
}

export type SignatureCheck = 'ok' | 'missing' | 'bad_signature' | 'expired' | 'from_the_future';

/**
 * Checks the raw (still encoded) query values of a request. Comparison is constant-time so the
 * signature cannot be guessed byte by byte from response times.
 */
export function verifySignature(
  secret: string,
  base: string,
  raw: { path?: string; timestamp?: string; hmac?: string },
  now = Date.now(),
): SignatureCheck {
  if (raw.path === undefined || raw.timestamp === undefined || raw.hmac === undefined) return 'missing';
  if (!/^\d{1,12}$/.test(raw.timestamp) || !/^[0-9a-f]{64}$/i.test(raw.hmac)) return 'bad_signature';
  const expected = Buffer.from(hmacHex(secret, signedString(base, raw.path, raw.timestamp)), 'hex');
  const given = Buffer.from(raw.hmac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad_signature';
  const age = Math.floor(now / 1000) - Number(raw.timestamp);
  if (age > SIGNATURE_MAX_AGE_S) return 'expired';
  if (age < -SIGNATURE_MAX_SKEW_S) return 'from_the_future';
  return 'ok';
}
