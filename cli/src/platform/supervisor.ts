import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import {
  Backoff,
  type EngineCredentials,
  ensureEtcdAuth,
  isAlive,
  loadEngineCredentials,
  loadSettings,
  type Logger,
  natsUsersOf,
  RepeatedFailureLog,
  type Settings,
  sleep,
  waitForPort,
} from '@nap/common';
import { type Component, components, repoRoot } from './components.js';
import { rotateLogs } from './log-rotation.js';
import { followEnginePeersForever } from './engine-follower.js';
import { secretsFor, serviceEnv } from './service-env.js';
import { type ComponentStatus, PlatformState } from './state.js';

/** A program that ran this long before it exited was fine: its next restart waits the shortest step again. */
const STABLE_MS = 60_000;
/** How often a program this supervisor did not start (it found it running) is looked at. */
const ADOPTED_POLL_MS = 1000;
const ROTATE_EVERY_MS = 30_000;

interface Exit {
  code: number | null;
  signal: string | null;
}

/**
 * Keeps every program of a local nap running, as `nap up` started them: one that exits is started
 * again after a back-off (1 s, doubling to 30 s, back to 1 s once it has run a minute), and each
 * one's restarts and last exit are kept in NAP_HOME/run for `nap status`. A program it finds
 * already running (started by an earlier supervisor that died) is adopted and watched by pid.
 * It never stops a program: `nap down` stops the supervisor first, then the programs.
 */
export class Supervisor {
  private readonly stopping = new AbortController();
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    private readonly settings: Settings,
    private readonly state: PlatformState,
    private readonly creds: EngineCredentials,
    private readonly log: Logger,
  ) {
    this.env = serviceEnv(state);
  }

  static async fromEnvironment(log: Logger): Promise<Supervisor> {
    const settings = loadSettings();
    const state = new PlatformState(settings.home);
    await state.prepare();
    return new Supervisor(settings, state, await loadEngineCredentials(state.credentialsDir), log);
  }

  stop(): void {
    this.stopping.abort();
  }

  /** In start order: each program is given its port's worth of time before the next starts; etcd gets its users first. */
  async run(): Promise<void> {
    const kept: Promise<void>[] = [];
    const rotation = this.rotateLogsForever();
    const peers = this.followEnginePeersForever();
    for (const c of components(this.settings, natsUsersOf(this.creds), { routePassword: this.creds.natsRoutePassword })) {
      kept.push(this.keep(c));
      if (c.port > 0) await waitForPort(this.settings.nodeAddress, c.port, 30_000, () => !this.stopping.signal.aborted);
      if (c.name === 'etcd') await this.turnEtcdAuthOn();
      if (this.stopping.signal.aborted) break;
    }
    await Promise.all([...kept, rotation, peers]);
  }

  /** Idempotent; retried until etcd takes it, since every program after it logs in to etcd. */
  private async turnEtcdAuthOn(): Promise<void> {
    const backoff = new Backoff({ minMs: 500, maxMs: 10_000 });
    const failures = new RepeatedFailureLog(this.log, 30_000);
    while (!this.stopping.signal.aborted) {
      try {
        await ensureEtcdAuth(this.settings.etcdUrls, this.creds, { caFile: this.settings.tls?.ca });
        failures.recovered('turning etcd auth on', 'etcd auth is on');
        return;
      } catch (err) {
        failures.failed('turning etcd auth on', err);
        await sleep(backoff.next(), this.stopping.signal);
      }
    }
  }

  private async keep(c: Component): Promise<void> {
    const backoff = new Backoff({ minMs: 1000, maxMs: 30_000 });
    const status: ComponentStatus = (await this.state.readStatus(c.name)) ?? { pid: null, restarts: 0, last_exit: null, started_at: null };
    while (!this.stopping.signal.aborted) {
      const running = await this.state.runningPid(c.name, c.marker);
      let exited: Promise<Exit | null>;
      if (running) {
        this.log.info({ component: c.name, pid: running }, 'watching a program that was already running');
        status.pid = running;
        exited = this.gone(running);
      } else {
        const started = await this.start(c).catch((err: Error) => err);
        if (started instanceof Error) {
          this.log.error({ component: c.name, err: started.message }, 'could not start');
          await sleep(backoff.next(), this.stopping.signal);
          continue;
        }
        status.pid = started.pid;
        status.started_at = new Date().toISOString();
        exited = started.exited;
      }
      await this.state.saveStatus(c.name, status);
      const since = Date.now();
      const exit = await Promise.race([exited, new Promise<'stopping'>((r) => this.stopping.signal.addEventListener('abort', () => r('stopping'), { once: true }))]);
      if (exit === 'stopping') return;
      if (Date.now() - since >= STABLE_MS) backoff.reset();
      const wait = backoff.next();
      status.pid = null;
      status.restarts++;
      status.last_exit = { code: exit?.code ?? null, signal: exit?.signal ?? null, at: new Date().toISOString() };
      await this.state.saveStatus(c.name, status);
      await this.state.forgetPid(c.name);
      // One line per exit, and exits are at least a back-off apart: this log cannot flood.
      this.log.warn({ component: c.name, exit: exit ?? 'unknown (not started by this supervisor)', restarts: status.restarts, restart_in_ms: wait }, 'program exited; restarting it');
      await sleep(wait, this.stopping.signal);
    }
  }

  private async start(c: Component): Promise<{ pid: number; exited: Promise<Exit> }> {
    const fd = openSync(this.state.logFile(c.name), 'a');
    try {
      // Its own session, as nap up always started them: a supervisor that dies leaves them running.
      const child = spawn(c.command, c.args, { detached: true, stdio: ['ignore', fd, fd], env: { ...this.env, ...(await secretsFor(this.state, this.creds, c)) }, cwd: repoRoot });
      const exited = new Promise<Exit>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', () => resolve({ code: null, signal: null }));
      });
      if (child.pid === undefined) throw new Error(`${c.command} could not be started (is it installed? deploy/setup installs it)`);
      await this.state.savePid(c.name, child.pid);
      return { pid: child.pid, exited };
    } finally {
      closeSync(fd);
    }
  }

  private async gone(pid: number): Promise<null> {
    while (isAlive(pid) && !this.stopping.signal.aborted) await sleep(ADOPTED_POLL_MS, this.stopping.signal);
    return null;
  }

  private async followEnginePeersForever(): Promise<void> {
    await followEnginePeersForever(this.settings, this.creds, this.log, this.stopping.signal, async (how) => {
      const pid = await this.state.runningPid('nats', 'nats-server');
      if (pid) process.kill(pid, how === 'clustered' ? 'SIGTERM' : 'SIGHUP');
    });
  }

  private async rotateLogsForever(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      await rotateLogs(this.state.logsDir).catch((err: Error) => this.log.warn({ err: err.message }, 'log rotation failed'));
      await sleep(ROTATE_EVERY_MS, this.stopping.signal);
    }
  }
}
