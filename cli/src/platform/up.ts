import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import {
  isAlive,
  makeFirstNodeTls,
  sleep,
  loadEngineCredentials,
  loadSettings,
  removeContainerNetwork,
  natsUsersOf,
  spawnDetached,
  stopPid,
  waitForPort,
  type EngineCredentials,
  type Settings,
} from '@nap/common';
import { publishFirstNode } from './first-node.js';
import { updateNodeSettings } from './node-settings.js';
import { ApiClient } from '../api-client.js';
import { trustingCa } from '../http.js';
import { joinCommandFor } from '../join-command.js';
import { CliError, writeConfig } from '../config.js';
import type { Output } from '../output.js';
import { type Component, components, repoRoot } from './components.js';
import { serviceEnv } from './service-env.js';
import { type ComponentStatus, PlatformState } from './state.js';

function portTaken(settings: Settings, port: number): Promise<boolean> {
  return waitForPort(settings.nodeAddress, port, 300);
}

async function tail(file: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-15).join('\n');
}

/** The supervisor's program, and the word of its command line that recognises it. */
const SUPERVISOR = { name: 'supervisor', main: join(repoRoot, 'cli/dist/src/platform/supervise-main.js') };

/**
 * nap up: set-up if anything is missing, then this node's programs (startNode); on the first node
 * (the engines' node) it also records the node, publishes what joining nodes are handed, waits for
 * the DEA and logs the CLI in as admin. With --advertise, every part binds that address and the
 * join command for other hosts is printed.
 */
export async function up(out: Output, opts: { setup: boolean; advertise?: string }): Promise<void> {
  if (opts.advertise) {
    if (!hostAddresses().includes(opts.advertise)) throw new CliError(`${opts.advertise} is not an address of this host (it has ${hostAddresses().join(', ')}): advertise one of them`);
    const before = loadSettings();
    const state = new PlatformState(before.home);
    if (before.nodeAddress !== opts.advertise && (await state.runningPid(SUPERVISOR.name, SUPERVISOR.main))) {
      throw new CliError(`this nap runs on ${before.nodeAddress}: run nap down first, then nap up --advertise ${opts.advertise}`);
    }
    await updateNodeSettings(before.home, { NAP_NODE_ADDRESS: opts.advertise });
    // Traffic between hosts is TLS from a cluster's first start: a CA, and this node's certificate
    // for its address. An etcd that already has data keeps its plain peer URL (etcd stores it), so
    // such a nap stays as it was.
    if (before.tls || !(await napLivesIn(state))) {
      const files = await makeFirstNodeTls(before.home, opts.advertise);
      await updateNodeSettings(before.home, { NAP_TLS_CA: files.ca, NAP_TLS_CERT: files.cert, NAP_TLS_KEY: files.key });
    }
  }
  const settings = loadSettings();
  const state = new PlatformState(settings.home);
  await state.prepare();
  if (opts.setup) runSetup();
  const creds = await loadEngineCredentials(state.credentialsDir);
  // The first node is the one whose engines did not join others' (an engines node that joined was handed its etcd members).
  if (!settings.nodeRoles.includes('engines') || settings.etcdInitialCluster) {
    await startNode(out, settings, state, creds);
    out.result(`this node (${settings.nodeAddress}: ${settings.nodeRoles.join(', ')}) is up; state and logs in ${settings.home}`, { node: settings.nodeAddress, roles: settings.nodeRoles, home: settings.home });
    return;
  }
  await startNode(out, settings, state, creds);
  const node = await publishFirstNode(settings, state, creds);

  const token = await state.secret('admin.token');
  const ca = settings.tls ? await readFile(settings.tls.ca, 'utf8') : undefined;
  const api = new ApiClient(settings.controllerUrl, token, ca);
  out.progress('Waiting for the DEA to advertise…');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const deas = await api.call<unknown[]>('GET', '/v1/deas').catch(() => []);
    if (deas.length > 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (Date.now() >= deadline) throw new CliError(`the DEA did not come up:\n${await tail(state.logFile('dea'))}`);
  await writeConfig({ api: settings.controllerUrl, token, ca });
  const alone = settings.nodeAddress.startsWith('127.');
  const joinToken = alone ? null : (await api.call<{ token: string; expires_at: string }>('POST', '/v1/nodes/tokens', {})).token;
  const joinCommand = joinToken ? joinCommandFor(settings.controllerUrl, joinToken, ca) : null;
  out.result(
    [
      `nap is up (state and logs in ${settings.home}).`,
      `  API:    ${settings.controllerUrl} (the CLI is logged in as admin)`,
      `  Router: ${settings.routerUrl}, apps at http://<app>.${settings.domain}`,
      'Push an app with: npx nap push hello-node -p examples/hello-node',
      ...(joinCommand ? ['Add another host to this nap (the token lasts 24 h; nap nodes token create makes more):', `  ${joinCommand}`] : []),
    ].join('\n'),
    { api: settings.controllerUrl, router: settings.routerUrl, domain: settings.domain, home: settings.home, node, join_command: joinCommand },
  );
}

/** The IPv4 addresses of this host's interfaces. */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4')
    .map((a) => a!.address);
}

/** Whether a nap already runs, or ran, in this NAP_HOME: its supervisor is up, or etcd keeps data there. */
export async function napLivesIn(state: PlatformState): Promise<boolean> {
  if (await state.runningPid(SUPERVISOR.name, SUPERVISOR.main)) return true;
  return (await readdir(join(state.home, 'etcd')).catch(() => [])).length > 0;
}

/** deploy/setup: the engines' packages, dockerd and the stack image, as root. */
export function runSetup(): void {
  const setup = spawnSync('bash', [join(repoRoot, 'deploy', 'setup')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (setup.status !== 0) throw new CliError('deploy/setup failed (see above); fix that and run the command again');
}

/** Starts this node's programs under the supervisor (unless they run already) and waits until they answer. */
export async function startNode(out: Output, settings: Settings, state: PlatformState, creds: EngineCredentials): Promise<void> {
  const all = components(settings, natsUsersOf(creds), { routePassword: creds.natsRoutePassword });
  for (const c of all) {
    const running = await state.runningPid(c.name, c.marker);
    if (running) {
      // nats-server re-reads its config (just written with the current users) on SIGHUP: a NATS
      // started by an older nap, with one shared user, gets the per-program users this way.
      if (c.name === 'nats') process.kill(running, 'SIGHUP');
      out.progress(`${c.name}: already running`);
    } else if (c.port > 0 && (await portTaken(settings, c.port))) {
      throw new CliError(`${c.name}: port ${c.port} is already in use by another program; stop it, or move nap with the settings of CONTRACT §1`);
    }
  }
  if (await state.runningPid(SUPERVISOR.name, SUPERVISOR.main)) out.progress('supervisor: already running');
  else {
    out.progress('supervisor: starting (it starts the programs and restarts any that exits)');
    const pid = spawnDetached(process.execPath, [SUPERVISOR.main], { logFile: state.logFile(SUPERVISOR.name), env: serviceEnv(state), cwd: repoRoot });
    await state.savePid(SUPERVISOR.name, pid);
  }
  for (const c of all) await waitUntilUp(out, settings, state, c);
}

/** Up: its port answers (or, without a port, its process has lived half a second). */
async function waitUntilUp(out: Output, settings: Settings, state: PlatformState, c: Component): Promise<void> {
  const deadline = Date.now() + 30_000;
  const didNotStart = async () =>
    new CliError(
      `${c.name} did not start; its log (${state.logFile(c.name)}) ends with:\n${await tail(state.logFile(c.name))}\n` +
        `and the supervisor's (${state.logFile(SUPERVISOR.name)}) with:\n${await tail(state.logFile(SUPERVISOR.name))}`,
    );
  if (c.port > 0) {
    if (!(await waitForPort(settings.nodeAddress, c.port, 30_000))) throw await didNotStart();
  } else {
    for (;;) {
      const pid = await state.runningPid(c.name, c.marker);
      if (pid) {
        await sleep(500);
        if (isAlive(pid)) break;
      }
      if (Date.now() > deadline) throw await didNotStart();
      await sleep(200);
    }
  }
  out.progress(`${c.name}: up`);
}

/** nap down: stops exactly what nap up started (by the pids it recorded), in reverse order. */
export async function down(out: Output): Promise<void> {
  const settings = loadSettings();
  const state = new PlatformState(settings.home);
  const stopped: string[] = [];
  // The supervisor first, or it would start again what is stopped below.
  const supervisor = await state.runningPid(SUPERVISOR.name, SUPERVISOR.main);
  if (supervisor) {
    out.progress('supervisor: stopping');
    await stopPid(supervisor, 10_000);
    stopped.push(SUPERVISOR.name);
  }
  await state.forgetPid(SUPERVISOR.name);
  // Every program nap up may have started here, whatever the roles say now (pid files tell which run).
  for (const c of components(settings, null, { everyRole: true }).reverse()) {
    const pid = await state.runningPid(c.name, c.marker);
    if (pid) {
      out.progress(`${c.name}: stopping`);
      await stopPid(pid, 30_000);
      stopped.push(c.name);
    }
    await state.forgetPid(c.name);
    await state.forgetStatus(c.name);
  }
  // The DEA made the container network at its start (and stopped its instances on the way down).
  const network = await removeContainerNetwork(settings.installationId, settings.dockerSocket);
  out.result(stopped.length ? `Stopped ${stopped.join(', ')}` : 'Nothing was running', { stopped, network_removed: network.network, firewall_table_removed: network.table });
}

export async function status(out: Output): Promise<void> {
  const settings = loadSettings();
  const state = new PlatformState(settings.home);
  const rows: { name: string; state: string; pid: number | null; port: number; restarts: number; last_exit: ComponentStatus['last_exit'] }[] = [];
  const supervisor = await state.runningPid(SUPERVISOR.name, SUPERVISOR.main);
  rows.push({ name: SUPERVISOR.name, state: supervisor ? 'up' : 'down (nothing restarts a program that exits: run nap up)', pid: supervisor, port: 0, restarts: 0, last_exit: null });
  for (const c of components(settings, null)) {
    const pid = await state.runningPid(c.name, c.marker);
    const listening = c.port > 0 ? await portTaken(settings, c.port) : pid !== null;
    const kept = await state.readStatus(c.name);
    rows.push({
      name: c.name,
      state: pid ? (listening ? 'up' : 'starting') : listening ? 'port taken by another program' : 'down',
      pid,
      port: c.port,
      restarts: kept?.restarts ?? 0,
      last_exit: kept?.last_exit ?? null,
    });
  }
  const exitOf = (e: NonNullable<ComponentStatus['last_exit']>) => `last exit ${e.signal ?? (e.code === null ? 'unknown' : `code ${e.code}`)} at ${e.at}`;
  const text = rows
    .map((r) => {
      const where = r.pid ? ` (pid ${r.pid}${r.port ? `, port ${r.port}` : ''})` : '';
      const history = r.restarts ? `; ${r.restarts} restart${r.restarts === 1 ? '' : 's'}${r.last_exit ? `, ${exitOf(r.last_exit)}` : ''}` : '';
      return `${r.name.padEnd(11)} ${r.state}${where}${history}`;
    })
    .join('\n');
  // What the controller sees of the engines: an etcd alarm (out of space) shows here, not in a port.
  const ca = settings.tls ? await readFile(settings.tls.ca, 'utf8').catch(() => undefined) : undefined;
  const health = await trustingCa(ca)(`${settings.controllerUrl}/healthz`, { signal: AbortSignal.timeout(3000) })
    .then(async (r) => ({ ok: r.ok, ...((await r.json()) as { down?: Record<string, string> }) }))
    .catch(() => null);
  const label = 'health'.padEnd(11);
  const healthLine = !health ? `${label} unknown (the controller does not answer)` : health.ok ? `${label} ok` : `${label} ${Object.entries(health.down ?? {}).map(([k, v]) => `${k}: ${v}`).join('; ')}`;
  out.result(`${text}\n${healthLine}`, { components: rows, health: health ? { ok: health.ok, down: health.down ?? {} } : null });
  if (rows.some((r) => r.state !== 'up') || !health?.ok) process.exitCode = 1;
}
