import type { ApiClient } from '../api-client.js';
import type { AppView, InstanceView } from '../app-types.js';
import { CliError } from '../config.js';
import { type Output, table } from '../output.js';

function uptime(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export async function listApps(api: ApiClient, out: Output): Promise<void> {
  const apps = await api.call<AppView[]>('GET', '/v1/apps');
  const rows = apps.map((a) => [a.name, a.state.toLowerCase(), `${a.running_instances}/${a.instances}`, `${a.memory}M`, a.urls.join(', ')]);
  out.result(apps.length === 0 ? 'No apps yet: nap push NAME' : table(['name', 'state', 'instances', 'memory', 'urls'], rows), apps);
}

export async function showApp(api: ApiClient, out: Output, name: string): Promise<void> {
  const app = await api.call<AppView>('GET', `/v1/apps/${name}`);
  const instances = await api.call<InstanceView[]>('GET', `/v1/apps/${name}/instances`);
  const lines = [
    `name:       ${app.name}`,
    `state:      ${app.state.toLowerCase()}`,
    `instances:  ${app.running_instances}/${app.instances}`,
    `memory:     ${app.memory}M`,
    `urls:       ${app.urls.join(', ')}`,
    `buildpack:  ${app.droplet?.detected_buildpack ?? app.buildpack ?? '-'}`,
    `command:    ${app.command ?? app.droplet?.start_command ?? '-'}`,
    `package:    ${app.package_state.toLowerCase()}${app.staging?.error ? ` (${app.staging.error})` : ''}`,
    '',
    instances.length === 0
      ? 'no instances'
      : table(
          ['index', 'state', 'address', 'uptime', 'memory', 'restarts', 'details'],
          instances.map((i) => [
            i.index,
            i.state.toLowerCase(),
            `${i.host}:${i.port}`,
            uptime(i.uptime_s),
            i.mem_bytes ? `${(i.mem_bytes / 1024 / 1024).toFixed(0)}M` : '-',
            i.restarts,
            i.exit_description ?? '',
          ]),
        ),
  ];
  out.result(lines.join('\n'), { ...app, instance_details: instances });
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
    const line = `Instances: ${fresh}/${current.instances} running the new version`;
    if (line !== last) out.progress(line);
    last = line;
    if (fresh === current.instances && live.length === fresh) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new CliError(`${app.name} did not finish within ${timeoutMs / 1000} s: see nap app ${app.name} and nap events ${app.name}`);
}

export async function stopApp(api: ApiClient, out: Output, name: string): Promise<void> {
  const app = await api.call<AppView>('POST', `/v1/apps/${name}/stop`);
  out.result(`${name} stopped`, app);
}

export async function scaleApp(api: ApiClient, out: Output, name: string, opts: { instances?: number; memory?: string }): Promise<void> {
  const body: Record<string, unknown> = {};
  if (opts.instances !== undefined) body.instances = opts.instances;
  if (opts.memory !== undefined) body.memory = opts.memory;
  const app = await api.call<AppView>('PUT', `/v1/apps/${name}`, body);
  out.progress(`Scaling ${name} to ${app.instances} instances of ${app.memory}M`);
  if (app.state === 'STARTED') await waitForVersion(api, out, app, 120_000);
  out.result(`${name} scaled to ${app.instances} instances`, await api.call<AppView>('GET', `/v1/apps/${name}`));
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
