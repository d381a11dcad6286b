import { msg } from '@nap/common';
import { type AppRecord, startCommand } from './app-record.js';

/** One process type as the health manager runs it. */
export interface ProcessSpec {
  type: string;
  instances: number;
  memory_mb: number;
  command: string | null;
  health_check: msg.HealthCheck;
  uris: string[];
}

export const WEB = msg.DEFAULT_PROCESS_TYPE;

/**
 * Every process type of an app: `web` from the app's own fields (instances, memory, command,
 * routes, health check), then each type the droplet's Procfile or the app's `processes` names.
 * Types other than web run without routes and with a process check; they start with 0 instances
 * until scaled, as on Heroku and Cloud Foundry.
 */
export function processSpecs(app: AppRecord): ProcessSpec[] {
  const specs: ProcessSpec[] = [
    { type: WEB, instances: app.instances, memory_mb: app.memory_mb, command: startCommand(app), health_check: app.health_check, uris: app.routes },
  ];
  const fromDroplet = app.droplet?.process_types ?? {};
  const types = new Set([...Object.keys(fromDroplet), ...Object.keys(app.processes ?? {})]);
  types.delete(WEB);
  for (const type of [...types].sort()) {
    const config = app.processes?.[type];
    specs.push({
      type,
      instances: config?.instances ?? 0,
      memory_mb: config?.memory_mb ?? app.memory_mb,
      command: config?.command ?? fromDroplet[type] ?? null,
      health_check: { type: 'process', timeout_s: app.health_check.timeout_s },
      uris: [],
    });
  }
  return specs;
}

/** The types that can run: a command from the Procfile or the app. */
export function knownProcessTypes(app: AppRecord): string[] {
  return processSpecs(app)
    .filter((s) => s.type === WEB || s.command)
    .map((s) => s.type);
}

/** Crash history, pending starts and instance lists key an instance by this: web keeps the bare index it always had. */
export function slotKey(type: string, index: number): string {
  return type === WEB ? String(index) : `${type}-${index}`;
}
