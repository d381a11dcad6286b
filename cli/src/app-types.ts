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
}

export interface InstanceView {
  index: number;
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
