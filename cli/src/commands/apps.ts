import type { ApiClient } from '../api-client.js';
import { type AppView, desiredInstances, type InstanceView } from '@nap/common/without-engines';
import { CliError } from '../config.js';
import { type Output, table } from '../output.js';

function uptime(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** `1/1` for a web-only app; `web 2/2, worker 1/1` when other process types run. */
function instanceCounts(app: AppView): string {
  const others = (app.processes ?? []).filter((p) => p.type !== 'web' && p.instances > 0);
  if (others.length === 0) return `${app.running_instances}/${app.instances}`;
  return [`web ${app.running_instances}/${app.instances}`, ...others.map((p) => `${p.type} ${p.running_instances}/${p.instances}`)].join(', ');
}

export async function listApps(api: ApiClient, out: Output): Promise<void> {
  const apps = await api.call<AppView[]>('GET', '/v1/apps');
  const rows = apps.map((a) => [a.name, a.state.toLowerCase(), instanceCounts(a), `${a.memory}M`, a.urls.join(', ')]);
  out.result(apps.length === 0 ? 'No apps yet: nap push NAME' : table(['name', 'state', 'instances', 'memory', 'urls'], rows), apps);
}

export async function showApp(api: ApiClient, out: Output, name: string): Promise<void> {
  const app = await api.call<AppView>('GET', `/v1/apps/${name}`);
  const instances = await api.call<InstanceView[]>('GET', `/v1/apps/${name}/instances`);
  const lines = [
    `name:       ${app.name}`,
    `state:      ${app.state.toLowerCase()}`,
    `instances:  ${instanceCounts(app)}`,
    `memory:     ${app.memory}M`,
    `urls:       ${app.urls.join(', ')}`,
    `buildpack:  ${app.droplet?.detected_buildpack ?? app.buildpack ?? '-'}`,
    `command:    ${app.command ?? app.droplet?.start_command ?? '-'}`,
    ...(app.processes ?? [])
      .filter((p) => p.type !== 'web')
      .map((p) => `${`${p.type}:`.padEnd(12)}${p.command ?? '-'} (${p.instances} × ${p.memory}M)`),
    `package:    ${app.package_state.toLowerCase()}${app.staging?.error ? ` (${app.staging.error})` : ''}`,
    '',
    instances.length === 0
      ? 'no instances'
      : table(
          ['type', 'index', 'state', 'address', 'uptime', 'memory', 'cpu', 'restarts', 'details'],
          byType(instances).map((i) => [
            i.process_type ?? 'web',
            i.index,
            i.state.toLowerCase(),
            `${i.host}:${i.port}`,
            uptime(i.uptime_s),
            i.mem_bytes ? `${(i.mem_bytes / 1024 / 1024).toFixed(1)}M` : '-',
            i.cpu === null ? '-' : `${i.cpu.toFixed(1)}%`,
            i.restarts,
            i.exit_description ?? '',
          ]),
        ),
  ];
  out.result(lines.join('\n'), { ...app, instance_details: instances });
}

/** web first, then the other types by name; by index within a type. */
function byType(instances: InstanceView[]): InstanceView[] {
  const rank = (t: string | undefined) => (t === undefined || t === 'web' ? '' : t);
  return [...instances].sort((a, b) => rank(a.process_type).localeCompare(rank(b.process_type)) || a.index - b.index);
}

export async function startApp(api: ApiClient, out: Output, name: string): Promise<void> {
  out.progress(`Starting ${name}…`);
  const app = await api.call<AppView>('POST', `/v1/apps/${name}/start`);
  out.result(`${name} started: ${app.urls.join(', ')}`, app);
}

/** nap restart: a rolling replacement; waits until every instance runs the new version. */
export async function restartApp(api: ApiClient, out: Output, name: string): Promise<void> {
  const app = await api.call<AppView>('POST', `/v1/apps/${name}/restart`);
  out.progress(`Restarting ${name}, one instance at a time…`);
  await waitForVersion(api, out, app, 180_000);
  out.result(`${name} restarted: ${app.urls.join(', ')}`, await api.call<AppView>('GET', `/v1/apps/${name}`));
}

/** Waits until the app's desired instances all run its current version and no other version is left. */
export async function waitForVersion(api: ApiClient, out: Output, app: AppView, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const current = await api.call<AppView>('GET', `/v1/apps/${app.name}`);
    const instances = await api.call<InstanceView[]>('GET', `/v1/apps/${app.name}/instances`);
    const live = instances.filter((i) => i.state === 'RUNNING' || i.state === 'STARTING');
    const fresh = live.filter((i) => i.version === current.version && i.state === 'RUNNING').length;
    const wanted = desiredInstances(current);
    const line = `Instances: ${fresh}/${wanted} running the new version`;
    if (line !== last) out.progress(line);
    last = line;
    if (fresh === wanted && live.length === fresh) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new CliError(`${app.name} did not finish within ${timeoutMs / 1000} s: see nap app ${app.name} and nap events ${app.name}`);
}

export async function stopApp(api: ApiClient, out: Output, name: string): Promise<void> {
  const app = await api.call<AppView>('POST', `/v1/apps/${name}/stop`);
  out.result(`${name} stopped`, app);
}

export interface ScaleRequest {
  /** -i/-m apply to this type (--process), web by default. */
  process: string;
  instances?: number;
  memory?: string;
  /** `TYPE=N` arguments. */
  counts: Record<string, number>;
}

/** nap scale NAME [-i N] [-m SIZE] [--process TYPE] [TYPE=N …] */
export async function scaleApp(api: ApiClient, out: Output, name: string, req: ScaleRequest): Promise<void> {
  const processes: Record<string, { instances?: number; memory?: string }> = {};
  for (const [type, n] of Object.entries(req.counts)) processes[type] = { instances: n };
  if (req.instances !== undefined || req.memory !== undefined) {
    const p = (processes[req.process] ??= {});
    if (req.instances !== undefined) p.instances = req.instances;
    if (req.memory !== undefined) p.memory = req.memory;
  }
  const app = await api.call<AppView>('PUT', `/v1/apps/${name}`, { processes });
  const summary = (app.processes ?? [{ type: 'web', instances: app.instances, memory: app.memory }])
    .filter((p) => p.type in processes)
    .map((p) => `${p.type} ${p.instances} × ${p.memory}M`)
    .join(', ');
  out.progress(`Scaling ${name}: ${summary}`);
  if (app.state === 'STARTED') await waitForVersion(api, out, app, 120_000);
  out.result(`${name} scaled: ${summary}`, await api.call<AppView>('GET', `/v1/apps/${name}`));
}

/** nap delete: everything of the app goes. Without -f it asks, and refuses when it cannot ask. */
export async function deleteApp(api: ApiClient, out: Output, name: string, force: boolean): Promise<void> {
  if (!force) {
    if (!process.stdin.isTTY) throw new CliError(`deleting ${name} removes its instances, routes, bits and history: add -f to confirm`);
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl.question(`Really delete ${name} with its instances, routes, bits and history? [y/N] `);
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('not deleted');
  }
  const done = await api.call<{ name: string }>('DELETE', `/v1/apps/${name}`);
  out.result(`Deleted ${name}`, done);
}
