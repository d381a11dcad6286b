import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { DeaStart, InstanceState } from './bus/schemas.js';

/*
 * `${NAP_DEA_DIR}/snapshot.json`: `{"written_at": ms, "instances": [entry, …]}`. The DEA's
 * InstanceRegistry writes it (to a temporary file, renamed into place) whenever an instance
 * changes, and reads it back after a restart; the node's directory server reads it to know which
 * instances exist and where their directories are. Both parse it with these schemas.
 */

const instanceDir = z.string().min(1).max(4096).refine((d) => isAbsolute(d) && !d.includes('\0'), 'an absolute path without NUL');

/** What every reader relies on: which instance, in what state, in which directory. */
export const SnapshotEntryHead = z.object({
  start: z.object({ instance_id: z.string().min(1).max(64) }),
  state: InstanceState,
  dir: instanceDir,
});
export type SnapshotEntryHead = z.infer<typeof SnapshotEntryHead>;

/** A whole entry: the DEA's record of one instance. */
export const SnapshotEntry = SnapshotEntryHead.extend({
  start: DeaStart,
  stateTimestamp: z.number(),
  port: z.number().int().min(1).max(65535).nullable(),
  containerId: z.string().max(128).nullable(),
  startedAt: z.number().nullable(),
  exitStatus: z.number().int().nullable(),
  exitDescription: z.string().max(4096).nullable(),
  /** Being replaced elsewhere before this DEA stops: recorded as STOPPING while it still serves. */
  evacuating: z.boolean().optional(),
});
export type SnapshotEntry = z.infer<typeof SnapshotEntry>;

export function snapshotText(entries: SnapshotEntry[], now = Date.now()): string {
  return JSON.stringify({ written_at: now, instances: entries }, null, 1);
}

/**
 * The entries of a snapshot's text that `schema` accepts, or why the text cannot be used at all.
 * One malformed entry is skipped, not the whole file: the others' instances are still served.
 */
export function readSnapshot<S extends z.ZodTypeAny>(text: string, schema: S): { entries: z.infer<S>[]; skipped: number } | string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  const instances = (body as { instances?: unknown } | null)?.instances;
  if (typeof body !== 'object' || body === null || !Array.isArray(instances)) return 'no "instances" array';
  const entries: z.infer<S>[] = [];
  for (const entry of instances) {
    const parsed = schema.safeParse(entry);
    if (parsed.success) entries.push(parsed.data);
  }
  return { entries, skipped: instances.length - entries.length };
}
