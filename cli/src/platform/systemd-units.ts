import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { type EngineCredentials, loadEngineCredentials, loadSettings, natsUsersOf, type NodeRole } from '@nap/common';
import { CliError } from '../config.js';
import type { Output } from '../output.js';
import { type Component, components, repoRoot } from './components.js';
import { secretsFor, serviceEnv } from './service-env.js';
import { PlatformState } from './state.js';

/** Engines first; every service waits for both (they retry anyway, but start in a sensible order). */
const ENGINES = ['nats', 'etcd'];

function quoted(arg: string): string {
  // systemd's own quoting: a word with anything but plain characters goes in double quotes, escaped;
  // % starts a specifier everywhere in a unit, so it is doubled.
  return /^[A-Za-z0-9_@+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/[\\"]/g, (c) => `\\${c}`).replace(/%/g, '%%')}"`;
}

export function unitName(c: Component): string {
  return `nap-${c.name}.service`;
}

/**
 * One systemd unit per program, started exactly as the supervisor starts it (same command, same
 * arguments, same settings), for a machine where systemd keeps them up instead: Restart=on-failure
 * with a pause, no limit on restarts, the log appended to NAP_HOME/logs as nap up does. Secrets are
 * in an EnvironmentFile of the program's own (written 0600 by `nap systemd`), never in the unit.
 */
export function systemdUnit(c: Component, o: { root: string; settingsEnv: Record<string, string>; logFile: string; envFile: string }): string {
  const after = ENGINES.includes(c.name) ? 'network-online.target' : `network-online.target ${ENGINES.map((e) => `nap-${e}.service`).join(' ')}`;
  const env = Object.entries(o.settingsEnv)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `Environment=${quoted(`${k}=${v}`)}`);
  return [
    '[Unit]',
    `Description=nap ${c.name}`,
    'Wants=network-online.target',
    `After=${after}`,
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    `ExecStart=${[c.command, ...c.args].map(quoted).join(' ')}`,
    `WorkingDirectory=${o.root}`,
    ...env,
    `EnvironmentFile=-${o.envFile}`,
    'Restart=on-failure',
    'RestartSec=2',
    `StandardOutput=append:${o.logFile}`,
    `StandardError=append:${o.logFile}`,
    // The DEA stops its instances' log copies and sandboxes on SIGTERM; give it the time nap down gives.
    'TimeoutStopSec=30',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** nap-follow: what the supervisor does besides running programs, for a node of a cluster (follow-main.ts). */
function followerOf(role: NodeRole): Component {
  const main = join(repoRoot, 'cli/dist/src/platform/follow-main.js');
  return { name: 'follow', role, secrets: [], command: process.execPath, args: [main], port: 0, marker: main };
}

/** The lines of a program's EnvironmentFile: its secrets only. */
export async function secretsEnvFile(state: PlatformState, creds: EngineCredentials, c: Component): Promise<string> {
  const env = await secretsFor(state, creds, c);
  return Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join('');
}

/** systemd wants a program's absolute path: `etcd` is looked up on PATH as the supervisor's spawn would. */
export function absoluteCommand(command: string, path = process.env.PATH ?? ''): string {
  if (isAbsolute(command)) return command;
  for (const dir of path.split(':').filter(Boolean)) {
    const full = join(dir, command);
    if (existsSync(full)) return full;
  }
  throw new CliError(`${command} is not installed (not on PATH): run deploy/setup first`);
}

/**
 * nap systemd: units for this node's programs in `dir`, and each program's secrets in
 * NAP_HOME/systemd/<program>.env (0600). Run once `nap up` has made the credentials and turned
 * etcd's auth on; then `nap down`, and let systemd run them.
 */
export async function writeSystemdUnits(out: Output, opts: { dir: string }): Promise<void> {
  const settings = loadSettings();
  const state = new PlatformState(settings.home);
  await state.prepare();
  const creds = await loadEngineCredentials(state.credentialsDir);
  const envDir = join(settings.home, 'systemd');
  await mkdir(envDir, { recursive: true, mode: 0o700 });
  await mkdir(opts.dir, { recursive: true });
  const settingsEnv = Object.fromEntries(Object.entries(serviceEnv(state)).filter((e): e is [string, string] => e[0].startsWith('NAP_') && e[1] !== undefined));
  const written: string[] = [];
  const programs = components(settings, natsUsersOf(creds), { routePassword: creds.natsRoutePassword });
  // A node of a cluster follows the engines as the supervisor would: node.yaml's engine URLs, and NATS's routes.
  if (!settings.nodeAddress.startsWith('127.')) programs.push(followerOf(settings.nodeRoles[0]));
  for (const c of programs) {
    const envFile = join(envDir, `${c.name}.env`);
    // 0600 before a secret goes in: a file left from before with a wider mode keeps its mode otherwise.
    await writeFile(envFile, '', { mode: 0o600 });
    await chmod(envFile, 0o600);
    await writeFile(envFile, await secretsEnvFile(state, creds, c));
    const unit = systemdUnit({ ...c, command: absoluteCommand(c.command) }, { root: repoRoot, settingsEnv, logFile: state.logFile(c.name), envFile });
    await writeFile(join(opts.dir, unitName(c)), unit);
    written.push(unitName(c));
  }
  out.result(
    [
      `Wrote ${written.join(', ')} to ${opts.dir}, and each program's secrets to ${envDir} (0600).`,
      'Next: nap down (the supervisor must not run beside systemd), then',
      `  systemctl daemon-reload && systemctl enable --now ${written.join(' ')}`,
    ].join('\n'),
    { dir: opts.dir, units: written, secrets_dir: envDir },
  );
}
