/**
 * A record read back from etcd (or the bus), through its schema: null when it is absent, not JSON
 * or not of the schema (a record from another version of nap, or a hand-edited one), so a reader
 * skips it rather than trusting or throwing on it.
 */
export function parseStored<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, raw: string | null | undefined): T | null {
  if (!raw) return null;
  try {
    const r = schema.safeParse(JSON.parse(raw));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
