import { z } from 'zod';

/** CONTRACT §2: app names are lowercase DNS labels, 1-63 characters. */
export const APP_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isAppName(name: string): boolean {
  return APP_NAME.test(name);
}

/** "256M", "1G", "512m", "512MB" or a number of megabytes → megabytes; null when it is not a size. */
export function parseMegabytes(value: string | number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : null;
  const m = /^\s*(\d+)\s*(m|mb|g|gb)?\s*$/i.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'm').toLowerCase();
  const mb = unit.startsWith('g') ? n * 1024 : n;
  return mb > 0 ? mb : null;
}

export const Megabytes = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const mb = parseMegabytes(v);
  if (mb === null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a size such as 256, "256M" or "1G", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return mb;
});

/**
 * A route host: a DNS name, lowercased; a leading "*." is allowed for wildcards. DNS's limits:
 * labels of 1-63 characters, 253 in all. No port, no trailing dot. Who may claim which host is
 * the controller's route policy, not this schema.
 */
export const RouteHost = z
  .string()
  .max(1024, 'a host name is at most 253 characters')
  .transform((s) => s.toLowerCase())
  .pipe(
    z
      .string()
      .regex(/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'expected a host name such as app.example.com (letters, digits and -, no port; a wildcard only as a leading *.)')
      .max(253, 'a host name is at most 253 characters')
      .refine((h) => h.split('.').every((label) => label.length <= 63), 'each label of a host name (between dots) is at most 63 characters'),
  );
