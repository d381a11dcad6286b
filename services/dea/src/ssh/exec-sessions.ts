import { Writable } from 'node:stream';
import { type Bus, channels, type Logger, type msg } from '@nap/common';
import type { InstanceRegistry } from '../instances/instance-registry.js';
import { APP_HOME } from '../instances/instance-env.js';
import { type DockerRuntime, type ExecSession, VCAP } from '../runtime/docker-runtime.js';

/** A session ends after this long whatever happens in it: no shell outlives a working day. */
const MAX_SESSION_MS = 8 * 3600_000;
/** Output goes out in messages of at most this many bytes (base64 makes them a third bigger). */
const OUT_CHUNK = 48 * 1024;
const MAX_SESSIONS = 64;

/**
 * `nap ssh` on this DEA (issue 16): a `docker exec` in a running instance, as vcap (never root),
 * with the container's env and the buildpack's .profile.d, relayed over NATS to the controller,
 * which holds the user's websocket. The session ends when either side does, or after
 * MAX_SESSION_MS; its process is killed then.
 */
export class ExecSessions {
  private readonly open = new Map<string, () => void>();

  constructor(private readonly deps: { runtime: DockerRuntime; registry: InstanceRegistry; bus: Bus; log: Logger }) {}

  async start(o: msg.SshOpen): Promise<void> {
    const { runtime, registry, bus, log } = this.deps;
    if (this.open.size >= MAX_SESSIONS) throw new Error(`this DEA has ${MAX_SESSIONS} ssh sessions open already: try again later`);
    const inst = registry.get(o.instance_id);
    if (!inst || inst.start.app_id !== o.app_id || inst.state !== 'RUNNING' || !inst.containerId) throw new Error('that instance is not running on this DEA any more: try again');
    const profile = `cd ${APP_HOME} 2>/dev/null; for f in .profile.d/*.sh; do [ -f "$f" ] && . "./$f"; done;`;
    const cmd = o.command
      ? ['/bin/sh', '-c', `${profile} exec /bin/sh -c "$0"`, o.command]
      : ['/bin/sh', '-c', `${profile} if [ -x /bin/bash ]; then exec /bin/bash; else exec /bin/sh; fi`];
    const exec = await runtime.exec(inst.containerId, {
      cmd,
      tty: o.tty,
      user: `${VCAP.uid}:${VCAP.gid}`,
      env: [...(o.tty ? ['TERM=xterm-256color'] : []), `HOME=${APP_HOME}`],
      workingDir: inst.start.droplet_type === 'image' ? '/' : APP_HOME,
    });
    if (o.tty) await exec.resize(o.cols, o.rows);
    const out = channels.sshOut(o.session_id);
    const send = (data: Buffer) => {
      for (let i = 0; i < data.length; i += OUT_CHUNK) bus.publish(out, { data: data.subarray(i, i + OUT_CHUNK).toString('base64') });
    };
    if (o.tty) exec.stream.on('data', (chunk: Buffer) => send(chunk));
    else {
      const sink = new Writable({ write: (chunk: Buffer, _e, done) => (send(chunk), done()) });
      exec.demux(sink, sink);
    }
    let ended = false;
    const end = async (why?: string) => {
      if (ended) return;
      ended = true;
      clearTimeout(limit);
      sub.unsubscribe();
      this.open.delete(o.session_id);
      await kill(exec);
      exec.stream.destroy();
      bus.publish(out, why ? { error: why } : { exit: await exec.exitCode().catch(() => null) });
    };
    const sub = bus.subscribe(channels.sshIn(o.session_id), (m) => {
      if (m.data) exec.stream.write(Buffer.from(m.data, 'base64'));
      if (m.resize && o.tty) void exec.resize(m.resize.cols, m.resize.rows);
      if (m.eof) exec.stream.end();
      if (m.close) void end();
    });
    const limit = setTimeout(() => void end(`the session reached its limit of ${MAX_SESSION_MS / 3600_000} h`), MAX_SESSION_MS);
    limit.unref();
    exec.stream.once('end', () => void end());
    exec.stream.once('close', () => void end());
    exec.stream.once('error', () => void end());
    this.open.set(o.session_id, () => void end('the DEA is stopping'));
    log.info({ app: inst.start.app_name, index: inst.start.index, session: o.session_id, command: o.command !== undefined }, 'ssh session opened');
  }

  closeAll(): void {
    for (const close of [...this.open.values()]) close();
  }
}

/** Ends the exec's process if it still runs (a shell whose user went away). */
async function kill(exec: ExecSession): Promise<void> {
  const pid = await exec.pid().catch(() => null);
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
