import { blobKeyPatterns, isAppName, msg, type ServiceBinding } from '@nap/common';
import { z } from 'zod';

export type AppState = 'STARTED' | 'STOPPED';
export type PackageState = 'PENDING' | 'STAGING' | 'STAGED' | 'FAILED';

/** Desired state of one app, as kept in etcd. Only apps/lifecycle.ts changes it (test/app-writers.test.ts). */
export interface AppRecord {
  id: string;
  name: string;
  /** The user who made it; apps from before users existed belong to the admin. */
  owner?: string;
  instances: number;
  memory_mb: number;
  disk_mb: number;
  command: string | null;
  buildpack: string | null;
  env: Record<string, string>;
  routes: string[];
  health_check: msg.HealthCheck;
  /** Process types other than web (Procfile `worker:`, the seeds' `master`/`slave`); web is instances/memory_mb/command above. */
  processes?: Record<string, ProcessConfig>;
  /** Services bound to it (issue 17), with the credentials they had when bound. */
  services?: ServiceBinding[];
  /** False once the owner ran nap disable-ssh; absent (or true) lets the owner and admins in. */
  ssh_enabled?: boolean;
  /** Commands run as tasks on a schedule (manifest `cron:`), in UTC. */
  cron?: { name: string; schedule: string; command: string }[];
  stack: string;
  state: AppState;
  /** Changes whenever what runs changes (droplet, command, env, memory); instances of another version get replaced. */
  version: string;
  package: { hash: string; key: string; uploaded_at: string } | null;
  package_state: PackageState;
  /** `version` is what the app's version becomes if this staging succeeds; instance 0 of it starts on the staging DEA. */
  staging: { task_id: string; dea_id: string; version: string; log_url: string | null; error: string | null; started_at: string } | null;
  droplet: {
    hash: string;
    key: string;
    source_hash: string;
    start_command: string;
    detected_buildpack: string;
    /** The buildpack the app named when it was staged: naming another one stages again. */
    buildpack_requested?: string | null;
    staged_at: string;
    /** Absent on droplets staged before Dockerfile apps and stack variants: those are tgz on the plain stack. */
    droplet_type?: msg.DropletRun['droplet_type'];
    stack_variant?: string;
    image_id?: string;
    /** The droplet's Procfile processes (from bin/release), web included. */
    process_types?: Record<string, string>;
  } | null;
  /** Why instances are missing when nothing has room for them; null when all could be placed. */
  placement_error?: string | null;
  created_at: string;
  updated_at: string;
}

/** What the app asks of one of its non-web process types; null fields follow the app (memory) or the droplet (command). */
export interface ProcessConfig {
  instances: number;
  memory_mb: number | null;
  command: string | null;
}

/**
 * What an app record read from etcd must look like before any of it is used: the fields that reach
 * blob keys, start messages (and so the DEA's paths and Docker calls) have nap's own shapes. The
 * rest passes as it is; the API wrote it and checked it then.
 */
const StoredApp = z
  .object({
    id: msg.Uuid,
    name: z.string().refine(isAppName),
    version: msg.VersionId,
    env: z.record(z.string()),
    routes: z.array(z.string()),
    processes: z.record(msg.ProcessType, z.unknown()).optional(),
    package: z.object({ hash: msg.Sha256, key: z.string().regex(blobKeyPatterns.package) }).passthrough().nullable(),
    droplet: z
      .object({
        hash: msg.Sha256,
        key: z.string().regex(blobKeyPatterns.droplet),
        image_id: msg.ImageId.optional(),
        process_types: z.record(msg.ProcessType, z.string()).optional(),
      })
      .passthrough()
      .nullable(),
    staging: z.object({ task_id: msg.Uuid, dea_id: msg.NodeId, version: msg.VersionId }).passthrough().nullable(),
  })
  .passthrough();

/** The app record in `raw`, or null when it is not JSON or not in the shape nap writes. */
export function parseAppRecord(raw: string): AppRecord | null {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return null;
  }
  return StoredApp.safeParse(json).success ? (json as AppRecord) : null;
}
