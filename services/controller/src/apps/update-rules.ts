import { randomUUID } from 'node:crypto';
import { badRequest } from '@nap/common';
import type { Release } from '../store/releases-repository.js';
import { type AppRecord, needsStaging } from './app-record.js';
import type { AppUpdate } from './app-update.js';
import { knownProcessTypes, processSpecs, WEB } from './processes.js';

/**
 * The rules of an app's changes, as pure functions of the record: what a new app starts as, what
 * an update or an env change does to it, which changes make a new version (and a release), what a
 * rollback restores. apps/lifecycle.ts applies them inside its transactions.
 */

/** A new app as `PUT /v1/apps/:name` makes it before the body applies: 1 instance of 256 MB, its route on the shared domain. */
export function newApp(name: string, owner: string, domain: string, now = new Date().toISOString()): AppRecord {
  return {
    id: randomUUID(),
    name,
    owner,
    instances: 1,
    memory_mb: 256,
    disk_mb: 1024,
    command: null,
    buildpack: null,
    env: {},
    routes: [`${name}.${domain}`],
    health_check: { type: 'port', timeout_s: 60 },
    stack: 'bookworm',
    state: 'STOPPED',
    version: randomUUID(),
    package: null,
    package_state: 'PENDING',
    staging: null,
    droplet: null,
    created_at: now,
    updated_at: now,
  };
}

export function applyUpdate(app: AppRecord, update: AppUpdate): void {
  if (update.instances !== undefined) app.instances = update.instances;
  if (update.memory !== undefined) app.memory_mb = update.memory;
  if (update.disk !== undefined) app.disk_mb = update.disk;
  if (update.command !== undefined) app.command = update.command;
  if (update.buildpack !== undefined) app.buildpack = update.buildpack;
  if (update.env !== undefined) app.env = update.env;
  if (update.routes !== undefined) app.routes = [...new Set(update.routes)];
  if (update.health_check !== undefined) app.health_check = { ...app.health_check, ...update.health_check };
  if (update.stack !== undefined) app.stack = update.stack;
  if (update.ssh !== undefined) app.ssh_enabled = update.ssh;
  if (update.cron !== undefined) app.cron = update.cron.map((e) => ({ name: e.name, schedule: e.schedule, command: e.command }));
  for (const [type, p] of Object.entries(update.processes ?? {})) {
    if (type === WEB) {
      applyUpdate(app, { instances: p.instances, memory: p.memory, command: p.command });
      continue;
    }
    const config = { ...(app.processes?.[type] ?? { instances: 0, memory_mb: null, command: null }) };
    if (p.instances !== undefined) config.instances = p.instances;
    if (p.memory !== undefined) config.memory_mb = p.memory;
    if (p.command !== undefined) config.command = p.command;
    app.processes = { ...app.processes, [type]: config };
  }
}

/** `PUT /v1/apps/:name/env` merges: a key set to null is removed. The env as it would be after. */
export function envAfter(env: Record<string, string>, changes: Record<string, string | null>): Record<string, string> {
  const next = { ...env };
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  return next;
}

/** The fields of an update that changed anything, for the `updated` event. */
export function changedFields(before: AppRecord, after: AppRecord): string[] {
  const fields = ['memory_mb', 'disk_mb', 'command', 'buildpack', 'env', 'routes', 'health_check', 'stack', 'cron', 'ssh_enabled'] as const;
  const changed: string[] = fields.filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]));
  if (JSON.stringify(whatRunsOf(before.processes)) !== JSON.stringify(whatRunsOf(after.processes))) changed.push('processes');
  return changed;
}

/** Fields that change what runs: a change makes a new version, whose instances replace the old ones, and a release. */
export function changesWhatRuns(before: AppRecord, after: AppRecord): boolean {
  return (
    before.command !== after.command ||
    before.memory_mb !== after.memory_mb ||
    before.disk_mb !== after.disk_mb ||
    JSON.stringify(before.env) !== JSON.stringify(after.env) ||
    JSON.stringify(before.routes) !== JSON.stringify(after.routes) ||
    JSON.stringify(before.health_check) !== JSON.stringify(after.health_check) ||
    JSON.stringify(whatRunsOf(before.processes)) !== JSON.stringify(whatRunsOf(after.processes))
  );
}

/** A process type's command and memory change what runs; its instance count only how many. */
function whatRunsOf(processes: AppRecord['processes']) {
  return Object.entries(processes ?? {})
    .filter(([, p]) => p.command !== null || p.memory_mb !== null)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, p]) => [type, p.command, p.memory_mb]);
}

/** Instance counts by process type, for `scaled` events. */
export function scaleOf(app: AppRecord): Record<string, number> {
  return Object.fromEntries(processSpecs(app).map((s) => [s.type, s.instances]));
}

/** The `scaled` events of a change: one per process type whose instance count moved. */
export function scaledEvents(before: AppRecord, after: AppRecord): { from: number; to: number; process_type?: string }[] {
  const [from, to] = [scaleOf(before), scaleOf(after)];
  return Object.entries(to)
    .filter(([type, n]) => (from[type] ?? 0) !== n)
    .map(([type, n]) => (type === WEB ? { from: from[type] ?? 0, to: n } : { process_type: type, from: from[type] ?? 0, to: n }));
}

/** Scaling a type the app does not have would wait forever for a command: refused while the droplet says which types exist. */
export function checkProcessTypes(app: AppRecord, update: AppUpdate): void {
  // New bits may bring a new Procfile: the types are checked against the droplet they will have.
  if (!update.processes || !app.droplet || needsStaging(app)) return;
  const known = knownProcessTypes(app);
  for (const [type, p] of Object.entries(update.processes)) {
    if (known.includes(type) || p.command || p.instances === 0) continue;
    throw badRequest(
      'unknown_process_type',
      `app ${app.name} has no process type ${type} (it has ${known.join(', ')}): add a "${type}:" line to the Procfile, or give the type a command`,
    );
  }
}

/**
 * A rollback to `target`: its code (droplet, package) and configuration together, each process
 * type's command and memory as the release had them and its instance count as it is now.
 */
export function rollBack(app: AppRecord, target: Release): void {
  const { processes, ...config } = target.config;
  Object.assign(app, config);
  const types = new Set([...Object.keys(app.processes ?? {}), ...Object.keys(processes ?? {})]);
  app.processes = Object.fromEntries(
    [...types].map((type) => [
      type,
      { instances: app.processes?.[type]?.instances ?? 0, command: processes?.[type]?.command ?? null, memory_mb: processes?.[type]?.memory_mb ?? null },
    ]),
  );
  app.droplet = target.droplet;
  if (target.package) app.package = target.package;
  app.package_state = 'STAGED';
  app.version = randomUUID();
}
