import { type AppView, type InstanceView, signedUrl } from '@nap/common';
import type { ActualInstance, ActualInstancesRepository } from '../store/actual-instances.js';
import type { AppEvent, EventsRepository } from '../store/events-repository.js';
import { type AppRecord, appUrls } from './app-record.js';
import { processSpecs, WEB } from './processes.js';

/** A staging log link that the CLI can follow; signed fresh on every read because signatures expire. */
export function stagingLogUrl(app: AppRecord, secret: string): string | null {
  if (!app.staging?.log_url) return null;
  const origin = new URL(app.staging.log_url).origin;
  return signedUrl(secret, origin, { kind: 'staging', taskId: app.staging.task_id }, 'staging.log', { tail: true });
}

export function presentInstance(i: ActualInstance, restarts: number, now = Date.now()): InstanceView {
  return {
    index: i.index,
    process_type: i.process_type,
    instance_id: i.instance_id,
    state: i.state,
    host: i.host,
    port: i.port,
    dea_id: i.dea_id,
    version: i.version,
    since: new Date(i.since).toISOString(),
    uptime_s: i.state === 'RUNNING' && i.started_at ? Math.floor((now - i.started_at) / 1000) : 0,
    mem_bytes: i.mem_bytes,
    cpu: i.cpu,
    restarts,
    exit_status: i.exit_status,
    exit_description: i.exit_description,
  };
}

function countStates(instances: ActualInstance[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const i of instances) counts[i.state] = (counts[i.state] ?? 0) + 1;
  return counts;
}

export function presentApp(app: AppRecord, instances: ActualInstance[], secret: string, lastEvent: AppEvent | null): AppView {
  const current = instances.filter((i) => i.version === app.version);
  return {
    id: app.id,
    name: app.name,
    state: app.state,
    instances: app.instances,
    running_instances: current.filter((i) => i.state === 'RUNNING' && i.process_type === WEB).length,
    processes: processSpecs(app).map((s) => ({
      type: s.type,
      instances: s.instances,
      running_instances: current.filter((i) => i.state === 'RUNNING' && i.process_type === s.type).length,
      memory: s.memory_mb,
      command: s.command,
    })),
    instance_states: countStates(instances),
    memory: app.memory_mb,
    disk: app.disk_mb,
    command: app.command,
    buildpack: app.buildpack,
    env: app.env,
    routes: app.routes,
    urls: appUrls(app),
    health_check: app.health_check,
    stack: app.stack,
    version: app.version,
    placement_error: app.placement_error ?? null,
    package_state: app.package_state,
    package_hash: app.package?.hash ?? null,
    staging: app.staging
      ? { task_id: app.staging.task_id, error: app.staging.error, log_url: stagingLogUrl(app, secret), started_at: app.staging.started_at }
      : null,
    droplet: app.droplet
      ? {
          hash: app.droplet.hash,
          source_hash: app.droplet.source_hash,
          detected_buildpack: app.droplet.detected_buildpack,
          start_command: app.droplet.start_command,
          staged_at: app.droplet.staged_at,
        }
      : null,
    ssh_enabled: app.ssh_enabled !== false,
    services: (app.services ?? []).map((b) => b.name),
    last_event: lastEvent,
    created_at: app.created_at,
    updated_at: app.updated_at,
  };
}

/** An app as the API answers it, with its instances and newest event read beside the record. */
export class AppPresenter {
  constructor(
    private readonly actual: Pick<ActualInstancesRepository, 'ofApp' | 'byApp'>,
    private readonly events: Pick<EventsRepository, 'latest' | 'latestOfAll'>,
    private readonly secret: string,
  ) {}

  async one(app: AppRecord): Promise<AppView> {
    const [instances, lastEvent] = await Promise.all([this.actual.ofApp(app.id), this.events.latest(app.id)]);
    return presentApp(app, instances, this.secret, lastEvent);
  }

  /** One read of every instance and one of every newest event, however many apps there are. */
  async all(apps: AppRecord[]): Promise<AppView[]> {
    const [instances, latest] = await Promise.all([this.actual.byApp(), this.events.latestOfAll()]);
    return apps.map((a) => presentApp(a, instances.get(a.id) ?? [], this.secret, latest.get(a.id) ?? null));
  }
}
