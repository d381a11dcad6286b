import { z } from 'zod';
import { blobKeyPatterns } from '../keys.js';

/** CONTRACT §4: one schema per subject. Unknown extra fields are tolerated; missing or wrong ones drop the message. */

/*
 * Every value here may end up in a file path, an etcd key, a Docker API URL or a command line on
 * the node that reads it (a droplet hash in droplets/<hash>.tgz, an instance id in the directory a
 * stop deletes). So each has the exact shape nap itself produces, and nothing else gets through:
 * a message with `../` in a hash, `/` in an id or an id past its length is dropped by the bus.
 */

/** app_id, instance_id, task_id: made by the controller with randomUUID. */
export const Uuid = z.string().uuid('expected a uuid');
/** A node's id: NAP_DEA_ID (letters, digits, - and _, e.g. dea-1-<installation>) or a uuid the DEA made once. */
export const NodeId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, - or _ (at most 64)');
/** An app's version (a uuid today); one path-safe token. */
export const VersionId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected letters, digits, ., - or _ (at most 64)');
/** A droplet's sha256 (of its bytes) or a package's or buildpack archive's content hash. */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
/** A Docker image id as the engine reports it (`sha256:<64 hex>`, or the short form of `docker build`). */
/** A stack variant's name (nap/stack:<base>-<variant>): one rule for the release that names it and the start that runs it. */
export const STACK_VARIANT = /^[a-z0-9][a-z0-9-]{0,29}$/;

export const ImageId = z.string().regex(/^(sha256:)?[0-9a-f]{12,64}$/, 'expected a Docker image id');
/** Env names as a shell and Docker's `NAME=value` list accept them; values without NUL (the C strings of execve). */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an env name is letters, digits and _');
const envValue = z.string().max(64 * 1024).refine((v) => !v.includes('\0'), 'an env value has no NUL byte');
const env = z.record(envName, envValue).refine((e) => Object.keys(e).length <= 256, 'at most 256 env variables');
/** A route as the router matches it: a host name with an optional path, no spaces or control characters. */
const uri = z.string().min(1).max(1024).regex(/^[^\s\0-\x1f\x7f]+$/, 'a route has no spaces or control characters');
const stringMap = z.record(z.string().max(64 * 1024));
const id = NodeId;
const appId = Uuid;

export const instanceStates = ['STARTING', 'RUNNING', 'STOPPING', 'STOPPED', 'CRASHED'] as const;
export const InstanceState = z.enum(instanceStates);
export type InstanceState = z.infer<typeof InstanceState>;

export const HealthCheck = z.object({
  type: z.enum(['port', 'http', 'process']).default('port'),
  endpoint: z.string().startsWith('/').max(1024).regex(/^[^\s\0-\x1f\x7f]+$/, 'a path without spaces or control characters').optional(),
  timeout_s: z.number().int().positive().max(600).default(60),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

export const DeaAdvertise = z.object({
  id,
  host: z.string().min(1).max(255),
  zone: z.string().min(1).max(255),
  stacks: z.array(z.string().max(64)).max(32),
  available_memory_mb: z.number().int(),
  /** What it offers in all (NAP_DEA_MEMORY_MB, by default the machine's less a reserve); absent from older DEAs. */
  memory_mb: z.number().int().optional(),
  available_disk_mb: z.number().int(),
  app_id_to_count: z.record(z.number().int().nonnegative()),
  directory_url: z.string().url(),
  /** Why this DEA takes nothing new at the moment (its disk is nearly full, Docker does not answer); absent when it can. */
  unavailable: z.string().max(500).optional(),
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
  stack_variant: z.string().regex(STACK_VARIANT).optional(),
  image_id: ImageId.optional(),
});
export type DropletRun = z.infer<typeof DropletRun>;

const DeaStartFields = z.object({
  app_id: appId,
  app_name: z.string().min(1).max(63),
  version: VersionId,
  index: z.number().int().nonnegative().max(10_000),
  instance_id: Uuid,
  droplet_key: z.string().regex(blobKeyPatterns.droplet, 'expected droplets/<app uuid>/<sha256>.tgz'),
  droplet_hash: Sha256,
  limits: z.object({
    memory_mb: z.number().int().positive(),
    disk_mb: z.number().int().positive(),
    fds: z.number().int().positive(),
  }),
  env,
  uris: z.array(uri).max(100),
  command: z.string().min(1).max(16 * 1024),
  health_check: HealthCheck,
  process_type: ProcessType.default(DEFAULT_PROCESS_TYPE),
  /** The app's bound services as Cloud Foundry's VCAP_SERVICES (JSON); '{}' when absent. */
  vcap_services: z.string().max(64 * 1024).optional(),
}).merge(DropletRun);
// The hash named is the hash fetched: a key of another droplet would be checked against the wrong bytes.
export const DeaStart = DeaStartFields.refine((s) => s.droplet_key.endsWith(`/${s.droplet_hash}.tgz`), 'droplet_key does not end in droplet_hash');
export type DeaStart = z.infer<typeof DeaStart>;

/**
 * A buildpack that is not built in: cloned from `git_url` (at `ref`) or fetched from the
 * blobstore (`blob_key`, content hash `hash`) by the staging DEA, and mounted into the container.
 */
export const CustomBuildpack = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/),
  // Never an option to git: it follows `--` on the command line, and may not start with `-` anyway.
  git_url: z.string().min(1).max(2048).regex(/^[^-\s][^\s]*$/, 'a git URL has no spaces and does not start with -').optional(),
  ref: z.string().min(1).max(200).regex(/^[^-\s\0-\x1f][^\s\0-\x1f]*$/, 'a ref has no spaces and does not start with -').optional(),
  blob_key: z.string().regex(blobKeyPatterns.buildpack, 'expected buildpacks/<name>/<sha256>.tgz').optional(),
  hash: Sha256.optional(),
});
export type CustomBuildpack = z.infer<typeof CustomBuildpack>;

export const StagingStart = z.object({
  task_id: Uuid,
  app_id: appId,
  app_name: z.string().min(1).max(63),
  package_key: z.string().regex(blobKeyPatterns.package, 'expected packages/<app uuid>/<sha256>.tgz'),
  package_hash: Sha256,
  buildpack: z.string().min(1).max(2048).optional(),
  /** The buildpack the app names when it is a git URL or an admin buildpack (then `buildpack` is unset). */
  custom_buildpack: CustomBuildpack.optional(),
  /** Admin buildpacks, tried in this order after the built-in ones when the app names no buildpack. */
  custom_buildpacks: z.array(CustomBuildpack).max(50).optional(),
  env,
  memory_mb: z.number().int().positive(),
  /** nap's addition, as Cloud Foundry's DEA did: start instance 0 on the staging node, which already holds the droplet. */
  start_message: DeaStartFields.omit({ droplet_key: true, droplet_hash: true, command: true, droplet_type: true, stack_variant: true, image_id: true })
    .extend({ command: z.string().min(1).max(16 * 1024).optional() })
    .optional(),
}).refine((s) => s.package_key.endsWith(`/${s.package_hash}.tgz`), 'package_key does not end in package_hash');
export type StagingStart = z.infer<typeof StagingStart>;

export const StagingAccepted = z.object({ task_id: Uuid, log_url: z.string().url().max(2048) });
export const StagingSucceeded = z.object({
  task_id: Uuid,
  droplet_key: z.string().regex(blobKeyPatterns.droplet, 'expected droplets/<app uuid>/<sha256>.tgz'),
  droplet_hash: Sha256,
  detected_buildpack: z.string().max(1024),
  start_command: z.string().max(16 * 1024),
  process_types: z.record(ProcessType, z.string().max(16 * 1024)).refine((p) => Object.keys(p).length <= 20, 'at most 20 process types'),
}).merge(DropletRun);
export const StagingFailed = z.object({ task_id: Uuid, error: z.string().min(1).max(64 * 1024) });
export const StagingReply = z.union([StagingSucceeded, StagingFailed, StagingAccepted]);
export type StagingAccepted = z.infer<typeof StagingAccepted>;
export type StagingSucceeded = z.infer<typeof StagingSucceeded>;
export type StagingFailed = z.infer<typeof StagingFailed>;
export type StagingReply = z.infer<typeof StagingReply>;

export const DeaStop = z.object({
  app_id: appId,
  version: VersionId.optional(),
  indices: z.array(z.number().int().nonnegative()).max(10_000).optional(),
  process_type: ProcessType.optional(),
  instance_ids: z.array(Uuid).max(10_000).optional(),
});
export type DeaStop = z.infer<typeof DeaStop>;


export const exitReasons = ['CRASHED', 'STOPPED', 'DEA_SHUTDOWN', 'DEA_EVACUATION'] as const;
export const DropletExited = z.object({
  app_id: appId,
  version: VersionId,
  index: z.number().int().nonnegative(),
  instance_id: Uuid,
  process_type: ProcessType.default(DEFAULT_PROCESS_TYPE),
  reason: z.enum(exitReasons),
  exit_status: z.number().int().nullable(),
  exit_description: z.string().max(4096),
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

/**
 * `lost`: sent by the health manager for an instance whose DEA is gone (its lease expired), not by
 * a DEA stopping it: nothing there will answer, so routers also end what is in flight to it and
 * retry those requests elsewhere, instead of waiting out the request timeout.
 */
export const RouterUnregister = RouterRegister.extend({ lost: z.boolean().optional() });
export type RouterUnregister = z.infer<typeof RouterUnregister>;

export const RouterStart = z.object({
  id,
  minimumRegisterIntervalInSeconds: z.number().positive(),
  pruneThresholdInSeconds: z.number().positive(),
});
export type RouterStart = z.infer<typeof RouterStart>;

/**
 * A one-off task (issue 16): the app's droplet run once with its env and this command, on the DEA
 * that the controller chose. The DEA answers TaskReply once the container runs (or why it cannot),
 * and writes the outcome to etcd (keys.taskResult) itself.
 */
export const TaskStart = z
  .object({
    task_id: Uuid,
    app_id: appId,
    app_name: z.string().min(1).max(63),
    sequence: z.number().int().positive().max(100_000_000),
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    command: z.string().min(1).max(16 * 1024),
    droplet_key: z.string().regex(blobKeyPatterns.droplet, 'expected droplets/<app uuid>/<sha256>.tgz'),
    droplet_hash: Sha256,
    limits: z.object({ memory_mb: z.number().int().positive(), disk_mb: z.number().int().positive(), fds: z.number().int().positive() }),
    env,
    vcap_services: z.string().max(64 * 1024).optional(),
  })
  .merge(DropletRun)
  .refine((s) => s.droplet_key.endsWith(`/${s.droplet_hash}.tgz`), 'droplet_key does not end in droplet_hash');
export type TaskStart = z.infer<typeof TaskStart>;

export const TaskReply = z.union([z.object({ task_id: Uuid, started: z.literal(true) }), z.object({ task_id: Uuid, error: z.string().min(1).max(4096) })]);
export type TaskReply = z.infer<typeof TaskReply>;

export const TaskCancel = z.object({ task_id: Uuid, actor: z.string().min(1).max(64) });
export type TaskCancel = z.infer<typeof TaskCancel>;

/** How a task ended, as its DEA writes it (keys.taskResult): never leased, so it outlives the DEA. */
export const TaskResult = z.object({
  state: z.enum(['SUCCEEDED', 'FAILED']),
  exit_status: z.number().int().nullable(),
  failure_reason: z.string().max(4096).nullable(),
  started_at: z.string().nullable(),
  finished_at: z.string(),
  dea_id: z.string().min(1).max(64),
});
export type TaskResult = z.infer<typeof TaskResult>;

/** A DEA dropped lines of an app for a drain that was away too long (its queue was full): the controller records an event. */
export const DrainDropped = z.object({ app_id: appId, drain: z.string().min(1).max(2048), dropped: z.number().int().positive(), dea_id: z.string().min(1).max(64) });
export type DrainDropped = z.infer<typeof DrainDropped>;

/**
 * `nap ssh` (issue 16): the controller asks the DEA that runs the instance to open a `docker exec`
 * in it, then relays the bytes both ways on per-session subjects (ssh.<session>.in / .out).
 */
export const SshOpen = z.object({
  session_id: Uuid,
  app_id: appId,
  instance_id: Uuid,
  /** One command (nap ssh -c), or a login shell when absent. */
  command: z.string().min(1).max(16 * 1024).optional(),
  tty: z.boolean(),
  cols: z.number().int().min(1).max(1000),
  rows: z.number().int().min(1).max(1000),
});
export type SshOpen = z.infer<typeof SshOpen>;
export const SshOpened = z.union([z.object({ session_id: Uuid, opened: z.literal(true) }), z.object({ session_id: Uuid, error: z.string().min(1).max(4096) })]);
export type SshOpened = z.infer<typeof SshOpened>;
/** Bytes (base64) are at most 64 KB a message: a paste is cut in pieces by the sender. */
export const SshIn = z.object({
  data: z.string().max(90_000).optional(),
  resize: z.object({ cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }).optional(),
  eof: z.boolean().optional(),
  close: z.boolean().optional(),
});
export type SshIn = z.infer<typeof SshIn>;
export const SshOut = z.object({ data: z.string().max(90_000).optional(), exit: z.number().int().nullable().optional(), error: z.string().max(4096).optional() });
export type SshOut = z.infer<typeof SshOut>;

/** A router process's per-app counters since it started (router.app_stats, every 10 s): the controller takes differences over a minute. */
export const RouterAppStats = z.object({
  router: z.string().min(1).max(128),
  at: z.number().int(),
  started_at: z.number().int(),
  /** Upper bounds (ms) of the latency buckets; latency_counts has one more, the overflow. */
  latency_bounds_ms: z.array(z.number().nonnegative()).max(64),
  apps: z
    .record(
      z.string().max(128),
      z.object({
        requests: z.number().int().nonnegative(),
        responses: z.record(z.string().max(8), z.number().int().nonnegative()),
        bytes_in: z.number().nonnegative(),
        bytes_out: z.number().nonnegative(),
        latency_counts: z.array(z.number().int().nonnegative()).max(64),
      }),
    )
    .refine((a) => Object.keys(a).length <= 2000, 'at most 2000 apps a message'),
});
export type RouterAppStats = z.infer<typeof RouterAppStats>;
