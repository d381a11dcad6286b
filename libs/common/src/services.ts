import { z } from 'zod';

/** A service's name: as an app's (lowercase letters, digits and -). */
export const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Credentials are JSON of at most this many bytes (Cloud Foundry's cups takes any JSON object). */
export const MAX_CREDENTIALS_BYTES = 16 * 1024;
/** VCAP_SERVICES of every binding of an app, at most. */
export const MAX_VCAP_SERVICES_BYTES = 64 * 1024;

const Credentials = z
  .record(z.unknown())
  .refine((c) => Buffer.byteLength(JSON.stringify(c)) <= MAX_CREDENTIALS_BYTES, `credentials are at most ${MAX_CREDENTIALS_BYTES / 1024} KB of JSON`);

/** A service instance as etcd keeps it (`/nap/services/<name>`, issue 17): only user-provided ones yet. */
export const ServiceRecord = z.object({
  name: z.string().regex(SERVICE_NAME),
  kind: z.literal('user-provided'),
  credentials: Credentials,
  owner: z.string().max(63),
  created_at: z.string(),
});
export type ServiceRecord = z.infer<typeof ServiceRecord>;

/** What a binding copies into the app's record: its instances get it as VCAP_SERVICES (and DATABASE_URL). */
export const ServiceBinding = z.object({
  name: z.string().regex(SERVICE_NAME),
  label: z.string().max(63),
  credentials: Credentials,
  bound_at: z.string(),
});
export type ServiceBinding = z.infer<typeof ServiceBinding>;

/** `nap create-user-provided-service NAME -p JSON` (`POST /v1/services`). */
export const NewUserProvidedService = z
  .object({
    name: z.string().regex(SERVICE_NAME, 'a service name is 1-63 lowercase letters, digits and -, not starting or ending with -'),
    credentials: Credentials,
  })
  .strict();

/** Cloud Foundry's shape: `{"user-provided": [{name, instance_name, binding_name, label, tags, credentials, …}]}`. */
export function vcapServicesOf(bindings: readonly ServiceBinding[]): string {
  const byLabel: Record<string, unknown[]> = {};
  for (const b of bindings) {
    (byLabel[b.label] ??= []).push({ name: b.name, instance_name: b.name, binding_name: null, label: b.label, tags: [], credentials: b.credentials, syslog_drain_url: '', volume_mounts: [] });
  }
  return JSON.stringify(byLabel);
}

const DATABASE_URI = /^(postgres|postgresql|mysql|mysql2):\/\//;

/** Heroku's DATABASE_URL: the `uri` (or `url`, `database_url`) of the first bound service that names a database. */
export function databaseUrlOf(bindings: readonly ServiceBinding[]): string | undefined {
  for (const b of bindings) {
    for (const key of ['uri', 'url', 'database_url']) {
      const value = b.credentials[key];
      if (typeof value === 'string' && DATABASE_URI.test(value)) return value;
    }
  }
  return undefined;
}
