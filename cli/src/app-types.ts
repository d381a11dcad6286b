/** The shapes the CLI reads from the API (CONTRACT §2). */
export interface AppView {
  id: string;
  name: string;
  state: string;
  instances: number;
  running_instances: number;
  memory: number;
  urls: string[];
  routes: string[];
  version: string;
  package_state: string;
  command: string | null;
  buildpack: string | null;
  staging: { task_id: string; error: string | null; log_url: string | null } | null;
  droplet: { hash: string; detected_buildpack: string; start_command: string } | null;
  /** web first, then the other process types; absent from controllers older than process types. */
  processes?: ProcessView[];
}

export interface ProcessView {
  type: string;
  instances: number;
  running_instances: number;
  memory: number;
  command: string | null;
}

/** How many instances the app wants in all, over every process type that has a command. */
export function desiredInstances(app: AppView): number {
  if (!app.processes) return app.instances;
  return app.processes.filter((p) => p.command !== null || p.type === 'web').reduce((n, p) => n + p.instances, 0);
}

export interface InstanceView {
  index: number;
  process_type?: string;
  instance_id: string;
  state: string;
  host: string;
  port: number;
  version: string;
  uptime_s: number;
  mem_bytes: number | null;
  restarts: number;
  exit_description: string | null;
}
