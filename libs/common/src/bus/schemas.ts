import { z } from 'zod';

/** CONTRACT §4: one schema per subject. Unknown extra fields are tolerated; missing or wrong ones drop the message. */

const id = z.string().min(1).max(128);
const appId = z.string().uuid();
const stringMap = z.record(z.string());

export const instanceStates = ['STARTING', 'RUNNING', 'STOPPING', 'STOPPED', 'CRASHED'] as const;
export const InstanceState = z.enum(instanceStates);
export type InstanceState = z.infer<typeof InstanceState>;

export const HealthCheck = z.object({
  type: z.enum(['port', 'http', 'process']).default('port'),
  endpoint: z.string().startsWith('/').optional(),
  timeout_s: z.number().int().positive().max(600).default(60),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

export const DeaAdvertise = z.object({
  id,
  host: z.string().min(1),
  zone: z.string().min(1),
  stacks: z.array(z.string()),
  available_memory_mb: z.number().int(),
  available_disk_mb: z.number().int(),
  app_id_to_count: z.record(z.number().int().nonnegative()),
  directory_url: z.string().url(),
});
export type DeaAdvertise = z.infer<typeof DeaAdvertise>;

export const Empty = z.object({}).passthrough();

/** A process type of an app (Procfile key): `web` gets routes and a port check, the others a process check. */
export const ProcessType = z.string().regex(/^[a-z][a-z0-9_-]{0,29}$/, 'a process type is lowercase letters, digits, - and _');
export const DEFAULT_PROCESS_TYPE = 'web';

/**
 * How a droplet runs. `tgz`: app/ extracted over the stack image (or its variant, e.g. `jvm` for
 * nap/stack:bookworm-jvm). `image`: a Docker image saved with `docker save` (a Dockerfile app),
 * loaded by the DEA and run as `image_id`.
 */
export const DropletRun = z.object({
  droplet_type: z.enum(['tgz', 'image']).default('tgz'),
  stack_variant: z.string().regex(/^[a-z0-9-]{1,30}$/).optional(),
  image_id: z.string().min(1).optional(),
});
export type DropletRun = z.infer<typeof DropletRun>;

export const DeaStart = z.object({
  app_id: appId,
  app_name: z.string().min(1),
  version: z.string().min(1),
  index: z.number().int().nonnegative(),
  instance_id: id,
  droplet_key: z.string().min(1),
  droplet_hash: z.string().min(1),
  limits: z.object({
    memory_mb: z.number().int().positive(),
    disk_mb: z.number().int().positive(),
    fds: z.number().int().positive(),
  }),
  env: stringMap,
  uris: z.array(z.string()),
  command: z.string().min(1),
  health_check: HealthCheck,
  process_type: ProcessType.default(DEFAULT_PROCESS_TYPE),
}).merge(DropletRun);
export type DeaStart = z.infer<typeof DeaStart>;

/**
 * A buildpack that is not built in: cloned from `git_url` (at `ref`) or fetched from the
 * blobstore (`blob_key`, content hash `hash`) by the staging DEA, and mounted into the container.
 */
export const CustomBuildpack = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/),
  git_url: z.string().min(1).max(2048).optional(),
  ref: z.string().min(1).max(200).optional(),
  blob_key: z.string().min(1).optional(),
  hash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});
export type CustomBuildpack = z.infer<typeof CustomBuildpack>;

export const StagingStart = z.object({
  task_id: id,
  app_id: appId,
  app_name: z.string().min(1),
  package_key: z.string().min(1),
  package_hash: z.string().min(1),
  buildpack: z.string().min(1).optional(),
  /** The buildpack the app names when it is a git URL or an admin buildpack (then `buildpack` is unset). */
  custom_buildpack: CustomBuildpack.optional(),
  /** Admin buildpacks, tried in this order after the built-in ones when the app names no buildpack. */
  custom_buildpacks: z.array(CustomBuildpack).max(50).optional(),
  env: stringMap,
  memory_mb: z.number().int().positive(),
  /** nap's addition, as Cloud Foundry's DEA did: start instance 0 on the staging node, which already holds the droplet. */
  start_message: DeaStart.omit({ droplet_key: true, droplet_hash: true, command: true, droplet_type: true, stack_variant: true, image_id: true })
    .extend({ command: z.string().min(1).optional() })
    .optional(),
});
export type StagingStart = z.infer<typeof StagingStart>;

export const StagingAccepted = z.object({ task_id: id, log_url: z.string().url() });
export const StagingSucceeded = z.object({
  task_id: id,
  droplet_key: z.string().min(1),
  droplet_hash: z.string().min(1),
  detected_buildpack: z.string(),
  start_command: z.string(),
  process_types: stringMap,
}).merge(DropletRun);
export const StagingFailed = z.object({ task_id: id, error: z.string().min(1) });
export const StagingReply = z.union([StagingSucceeded, StagingFailed, StagingAccepted]);
export type StagingAccepted = z.infer<typeof StagingAccepted>;
export type StagingSucceeded = z.infer<typeof StagingSucceeded>;
export type StagingFailed = z.infer<typeof StagingFailed>;
export type StagingReply = z.infer<typeof StagingReply>;

export const DeaStop = z.object({
  app_id: appId,
  version: z.string().optional(),
  indices: z.array(z.number().int().nonnegative()).optional(),
  process_type: ProcessType.optional(),
  instance_ids: z.array(id).optional(),
});
export type DeaStop = z.infer<typeof DeaStop>;

export const HeartbeatInstance = z.object({
  app_id: appId,
  version: z.string(),
  index: z.number().int().nonnegative(),
  instance_id: id,
  process_type: ProcessType.default(DEFAULT_PROCESS_TYPE),
  state: InstanceState,
  state_timestamp: z.number(),
});
export const DeaHeartbeat = z.object({ dea_id: id, instances: z.array(HeartbeatInstance) });
export type DeaHeartbeat = z.infer<typeof DeaHeartbeat>;

export const exitReasons = ['CRASHED', 'STOPPED', 'DEA_SHUTDOWN', 'DEA_EVACUATION'] as const;
export const DropletExited = z.object({
  app_id: appId,
  version: z.string(),
  index: z.number().int().nonnegative(),
  instance_id: id,
  process_type: ProcessType.default(DEFAULT_PROCESS_TYPE),
  reason: z.enum(exitReasons),
  exit_status: z.number().int().nullable(),
  exit_description: z.string(),
  crash_timestamp: z.number(),
});
export type DropletExited = z.infer<typeof DropletExited>;

export const RouterRegister = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  uris: z.array(z.string().min(1)).min(1),
  app: z.string().optional(),
  private_instance_id: z.string().optional(),
  tags: stringMap.optional(),
});
export type RouterRegister = z.infer<typeof RouterRegister>;

export const RouterStart = z.object({
  id,
  minimumRegisterIntervalInSeconds: z.number().positive(),
  pruneThresholdInSeconds: z.number().positive(),
});
export type RouterStart = z.infer<typeof RouterStart>;
