import { z } from 'zod';
import { DEFAULT_PROCESS_TYPE, InstanceState, ProcessType } from './bus/schemas.js';

/**
 * What a DEA writes to etcd (keys.actualInstance) about one of its instances, under its lease. The
 * controller reads it back through this schema, so a record from another version of nap, or a
 * hand-edited one, is skipped rather than trusted.
 */
export const ActualInstanceRecord = z.object({
  app_id: z.string(),
  app_name: z.string(),
  version: z.string(),
  index: z.number().int().nonnegative(),
  instance_id: z.string(),
  process_type: ProcessType.default(DEFAULT_PROCESS_TYPE),
  state: InstanceState,
  host: z.string(),
  port: z.number().int().nonnegative(),
  dea_id: z.string(),
  since: z.number(),
  started_at: z.number().nullable(),
  exit_status: z.number().int().nullable(),
  exit_description: z.string().nullable(),
  mem_bytes: z.number().nullable(),
  cpu: z.number().nullable(),
});
export type ActualInstanceRecord = z.infer<typeof ActualInstanceRecord>;
