import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  ENGINE_SECRET_VARIABLES,
  type EngineCredentials,
  engineEnvOf,
  ensureEtcdAuth,
  isAlive,
  loadEngineCredentials,
  loadSettings,
  removeContainerNetwork,
  natsUsersOf,
  spawnDetached,
  stopPid,
  waitForPort,
} from '@nap/common';
import { ApiClient } from '../api-client.js';
import { CliError, writeConfig } from '../config.js';
import type { Output } from '../output.js';
import { type Component, components, repoRoot, type Secret } from './components.js';
import { PlatformState } from './state.js';

function portTaken(port: number): Promise<boolean> {
  return waitForPort('127.0.0.1', port, 300);
}

async function tail(file: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-15).join('\n');
}

/** The environment of every program of a local nap: the settings, and no secret (each gets its own in secretsFor). */
function serviceEnv(state: PlatformState): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['NAP_API', 'NAP_TOKEN', 'NAP_ADMIN_TOKEN', 'NAP_DIRECTORY_SECRET', 'NAP_ROUTER_STATUS_PASSWORD', ...ENGINE_SECRET_VARIABLES]) delete env[k];
  return { ...env, NAP_HOME: state.home };
}

async function secretsFor(state: PlatformState, creds: EngineCredentials, c: Component): Promise<NodeJS.ProcessEnv> {
  const files: Record<Secret, string> = {
    NAP_ADMIN_TOKEN: 'admin.token',
    NAP_DIRECTORY_SECRET: 'directory.secret',
    NAP_ROUTER_STATUS_PASSWORD: 'router-status.password',
  };
  const env: NodeJS.ProcessEnv = c.engineUser ? engineEnvOf(creds, c.engineUser) : {};
  for (const s of c.secrets) env[s] = await state.secret(files[s]);
  return env;
}

/** nap up: set-up if anything is missing, then every component on this node, each only if not already up. */
export async function up(out: Output, opts: { setup: boolean }): Promise<void> {
  const settings = loadSettings();
  const state = new PlatformState(settings.home);
  await state.prepare();
  if (opts.setup) {
    const setup = spawnSync('bash', [join(repoRoot, 'deploy', 'setup')], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (setup.status !== 0) throw new CliError('deploy/setup failed (see above); fix that and run nap up again');
  }
  const env = serviceEnv(state);
  const creds = await loadEngineCredentials(state.credentialsDir);
  for (const c of components(settings, natsUsersOf(creds))) {
    await ensureRunning(out, state, creds, c, env);
    // Before any service logs in: auth on, with a user and role per program (again on every
    // nap up: idempotent, and it turns auth on for an installation from before it had any).
    if (c.name === 'etcd') await ensureEtcdAuth(settings.etcdUrls, creds).catch((err: Error) => {
      throw new CliError(`${err.message}\n(etcd's log: ${state.logFile('etcd')})`);
    });
  }

  const token = await state.secret('admin.token');
  const api = new ApiClient(settings.controllerUrl, token);
  out.progress('Waiting for the DEA to advertise…');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const deas = await api.call<unknown[]>('GET', '/v1/deas').catch(() => []);
    if (deas.length > 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (Date.now() >= deadline) throw new CliError(`the DEA did not come up:\n${await tail(state.logFile('dea'))}`);
  await writeConfig({ api: settings.controllerUrl, token });
  out.result(
    [
      `nap is up (state and logs in ${settings.home}).`,
      `  API:    ${settings.controllerUrl} (the CLI is logged in as admin)`,
      `  Router: ${settings.routerUrl}, apps at http://<app>.${settings.domain}`,
      'Push an app with: npx nap push hello-node -p examples/hello-node',
    ].join('\n'),
    { api: settings.controllerUrl, router: settings.routerUrl, domain: settings.domain, home: settings.home },
  );
}

async function ensureRunning(out: Output, state: PlatformState, creds: EngineCredentials, c: Component, env: NodeJS.ProcessEnv): Promise<void> {
  const running = await state.runningPid(c.name, c.marker);
  if (running) {
    // nats-server re-reads its config (just written with the current users) on SIGHUP: a NATS
    // started by an older nap, with one shared user, gets the per-program users this way.
    if (c.name === 'nats') process.kill(running, 'SIGHUP');
    out.progress(`${c.name}: already running`);
    return;
  }
  if (c.port > 0 && (await portTaken(c.port))) {
    throw new CliError(`${c.name}: port ${c.port} is already in use by another program; stop it, or move nap with the settings of CONTRACT §1`);
  }
  out.progress(`${c.name}: starting`);
  const pid = spawnDetached(c.command, c.args, { logFile: state.logFile(c.name), env: { ...env, ...(await secretsFor(state, creds, c)) }, cwd: repoRoot });
  await state.savePid(c.name, pid);
  if (c.port > 0 && !(await waitForPort('127.0.0.1', c.port, 30_000, () => isAlive(pid)))) {
    await stopPid(pid, 2000);
    throw new CliError(`${c.name} did not start; its log (${state.logFile(c.name)}) ends with:\n${await tail(state.logFile(c.name))}`);
  }
  if (c.port === 0) {
    await new Promise((r) => setTimeout(r, 500));
    if (!isAlive(pid)) throw new CliError(`${c.name} did not start; its log (${state.logFile(c.name)}) ends with:\n${await tail(state.logFile(c.name))}`);
  }
}

/** nap down: stops exactly what nap up started (by the pids it recorded), in reverse order. */
export async function down(out: Output): Promise<void> {
  const settings = loadSettings();
  const state = new PlatformState(settings.home);
  const stopped: string[] = [];
  for (const c of components(settings, null).reverse()) {
    const pid = await state.runningPid(c.name, c.marker);
    if (pid) {
      out.progress(`${c.name}: stopping`);
      await stopPid(pid, 30_000);
      stopped.push(c.name);
    }
    await state.forgetPid(c.name);
  }
  // The DEA made the container network at its start (and stopped its instances on the way down).
  const network = await removeContainerNetwork(settings.installationId, settings.dockerSocket);
  out.result(stopped.length ? `Stopped ${stopped.join(', ')}` : 'Nothing was running', { stopped, network_removed: network.network, firewall_table_removed: network.table });
}

export async function status(out: Output): Promise<void> {
  const settings = loadSettings();
  const state = new PlatformState(settings.home);
  const rows: { name: string; state: string; pid: number | null; port: number }[] = [];
  for (const c of components(settings, null)) {
    const pid = await state.runningPid(c.name, c.marker);
    const listening = c.port > 0 ? await portTaken(c.port) : pid !== null;
    rows.push({ name: c.name, state: pid ? (listening ? 'up' : 'starting') : listening ? 'port taken by another program' : 'down', pid, port: c.port });
  }
  const text = rows.map((r) => `${r.name.padEnd(11)} ${r.state}${r.pid ? ` (pid ${r.pid}${r.port ? `, port ${r.port}` : ''})` : ''}`).join('\n');
  out.result(text, rows);
  if (rows.some((r) => r.state !== 'up')) process.exitCode = 1;
}
