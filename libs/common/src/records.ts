import { z } from 'zod';
import { DEFAULT_PROCESS_TYPE, InstanceState, NodeId, ProcessType, Uuid, VersionId } from './bus/schemas.js';

/**
 * What a DEA writes to etcd (keys.actualInstance) about one of its instances, under its lease. The
 * controller reads it back through this schema, so a record from another version of nap, or a
 * hand-edited one, is skipped rather than trusted.
 */
export const ActualInstanceRecord = z.object({
  app_id: Uuid,
  app_name: z.string().max(63),
  version: VersionId,
  index: z.number().int().nonnegative(),
  instance_id: Uuid,
  process_type: ProcessType.default(DEFAULT_PROCESS_TYPE),
  state: InstanceState,
  host: z.string().max(255),
  port: z.number().int().nonnegative().max(65535),
  dea_id: NodeId,
  since: z.number(),
  started_at: z.number().nullable(),
  exit_status: z.number().int().nullable(),
  exit_description: z.string().max(4096).nullable(),
  mem_bytes: z.number().nullable(),
  cpu: z.number().nullable(),
});
export type ActualInstanceRecord = z.infer<typeof ActualInstanceRecord>;
