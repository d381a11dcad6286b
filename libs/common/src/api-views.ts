import { z } from 'zod';

/*
 * What the API answers (docs/contract.md §2), as the controller presents it and the CLI (and the
 * dashboard to come) reads it: one definition for both ends. The controller's presenters are typed
 * by these; the OpenAPI document lists them as the answers.
 */

/** An event of an app's history as GET /v1/apps/:name/events lists it, newest first. */
export const AppEventView = z.object({
  time: z.string(),
  type: z.string(),
  actor: z.string(),
  detail: z.record(z.unknown()),
});
export type AppEventView = z.infer<typeof AppEventView>;

export const ProcessView = z.object({
  type: z.string(),
  instances: z.number().int(),
  running_instances: z.number().int(),
  memory: z.number(),
  command: z.string().nullable(),
});
export type ProcessView = z.infer<typeof ProcessView>;

export const AppView = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(['STARTED', 'STOPPED']),
  instances: z.number().int(),
  running_instances: z.number().int(),
  /** web first, then the other process types. */
  processes: z.array(ProcessView),
  instance_states: z.record(z.number().int()),
  memory: z.number(),
  disk: z.number(),
  command: z.string().nullable(),
  buildpack: z.string().nullable(),
  env: z.record(z.string()),
  routes: z.array(z.string()),
  urls: z.array(z.string()),
  health_check: z.object({ type: z.string(), endpoint: z.string().optional(), timeout_s: z.number() }),
  stack: z.string(),
  version: z.string(),
  /** Why instances are missing (no DEA has room), or null. */
  placement_error: z.string().nullable(),
  package_state: z.enum(['PENDING', 'STAGING', 'STAGED', 'FAILED']),
  package_hash: z.string().nullable(),
  staging: z.object({ task_id: z.string(), error: z.string().nullable(), log_url: z.string().nullable(), started_at: z.string() }).nullable(),
  droplet: z
    .object({ hash: z.string(), source_hash: z.string(), detected_buildpack: z.string(), start_command: z.string(), staged_at: z.string() })
    .nullable(),
  /** Whether nap ssh may open a shell in its instances (nap enable-ssh / disable-ssh). */
  ssh_enabled: z.boolean(),
  /** The services bound to it (issue 17), by name. */
  services: z.array(z.string()),
  /** The newest event of the app's history (GET /v1/apps/:name/events), or null before its first. */
  last_event: AppEventView.nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type AppView = z.infer<typeof AppView>;

export const InstanceView = z.object({
  index: z.number().int(),
  process_type: z.string(),
  instance_id: z.string(),
  state: z.string(),
  host: z.string(),
  port: z.number().int(),
  dea_id: z.string(),
  version: z.string(),
  since: z.string(),
  uptime_s: z.number(),
  mem_bytes: z.number().nullable(),
  cpu: z.number().nullable(),
  restarts: z.number().int(),
  exit_status: z.number().nullable(),
  exit_description: z.string().nullable(),
});
export type InstanceView = z.infer<typeof InstanceView>;

/** How many instances the app wants in all, over every process type that has a command. */
export function desiredInstances(app: Pick<AppView, 'processes'>): number {
  return app.processes.filter((p) => p.command !== null || p.type === 'web').reduce((n, p) => n + p.instances, 0);
}

/** A release as GET /v1/apps/:name/releases lists it, newest first. */
export const ReleaseView = z.object({
  version: z.number().int(),
  created_at: z.string(),
  actor: z.string(),
  description: z.string(),
  droplet_hash: z.string(),
});
export type ReleaseView = z.infer<typeof ReleaseView>;


/** A user as GET /v1/users lists it (admins only); POST /v1/users answers the same with its `token`, shown once. */
export const UserView = z.object({ name: z.string(), role: z.enum(['admin', 'developer']), created_at: z.string().optional() });
export type UserView = z.infer<typeof UserView>;

/** A buildpack as GET /v1/buildpacks lists it: the built-in ones first, in detection order, then the admins'. */
export const BuildpackView = z.object({
  name: z.string(),
  kind: z.string(),
  url: z.string().nullable(),
  ref: z.string().nullable(),
  hash: z.string().nullable(),
  position: z.number().nullable(),
  created_at: z.string().nullable(),
  created_by: z.string().nullable(),
});
export type BuildpackView = z.infer<typeof BuildpackView>;

/** A one-off task as GET /v1/apps/:name/tasks lists it, newest first. */
export const TaskView = z.object({
  sequence_id: z.number().int(),
  name: z.string(),
  command: z.string(),
  state: z.enum(['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED']),
  exit_status: z.number().int().nullable(),
  failure_reason: z.string().nullable(),
  memory_mb: z.number().int(),
  dea_id: z.string().nullable(),
  actor: z.string(),
  created_at: z.string(),
  finished_at: z.string().nullable(),
  /** Seconds from its start (or its creation, before it started) to its end, or to now while it runs. */
  duration_s: z.number().nullable(),
});
export type TaskView = z.infer<typeof TaskView>;
