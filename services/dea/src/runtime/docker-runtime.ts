import { type FileHandle, open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Backoff, type Logger, RepeatedFailureLog, sleep } from '@nap/common';
import { hostLimits } from './container-limits.js';
import { RotatingLog } from './rotating-log.js';
import Docker from 'dockerode';
import { Parser as TarParser } from 'tar';

/** The user apps and buildpacks run as inside the stack (created by deploy/build-stack). */
export const VCAP = { uid: 2000, gid: 2000 } as const;

export interface ContainerSpec {
  name: string;
  image: string;
  cmd: string[];
  env: Record<string, string>;
  /** Unset: the image's own (an image droplet keeps the WORKDIR its Dockerfile chose). */
  workingDir?: string;
  /** Unset: vcap. An image droplet runs as its Dockerfile's USER. */
  user?: string;
  /** `[]` sets aside an image's ENTRYPOINT, so that `cmd` is the whole command line. */
  entrypoint?: string[];
  binds: string[];
  memoryMb: number;
  /** Open files (soft and hard); unset: Cloud Foundry's default, 16384. */
  fds?: number;
  labels: Record<string, string>;
  /** Staging wants one combined, unframed output stream; instances write their own log files. */
  tty?: boolean;
  /** A network namespace of its own on nap's network, never one of the pool's (the sandboxes themselves). */
  ownNetwork?: boolean;
}

/** Idle network sandboxes a DEA keeps ready (see `keepSandboxesReady`). */
const SANDBOX_POOL_SIZE = 2;
const SANDBOX_LABEL = 'nap.sandbox';

export interface LogFiles {
  stdout: string;
  stderr: string;
  maxBytes: number;
  /** Every chunk written to the files, as it is written (the log drains' tap). */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

export interface ContainerExit {
  exitCode: number;
  oomKilled: boolean;
}

/** A container nap was following is no more (removed by hand, or lost with the engine's state). */
export class ContainerGone extends Error {}

const ENGINE_AWAY = 'Docker does not answer';
const ENGINE_WATCH_MS = 2_000;

/** The only door to Docker. Every container is labelled with the installation so its owner can find (and only it remove) it. */
export interface ContainerUsage {
  memBytes: number | null;
  /** The container's CPU time and the machine's, both in ns, since boot: two readings give a share. */
  cpuNs: number | null;
  systemNs: number | null;
  cpus: number;
}

export interface ExecSession {
  stream: import('node:stream').Duplex;
  /** Splits the stream's stdout and stderr (no terminal: Docker multiplexes them). */
  demux: (stdout: Writable, stderr: Writable) => void;
  resize: (cols: number, rows: number) => Promise<void>;
  exitCode: () => Promise<number | null>;
  /** The exec's process on the host, to end it when its session does. */
  pid: () => Promise<number | null>;
}

export class DockerRuntime {
  private readonly docker: Docker;

  constructor(
    socketPath: string,
    private readonly installationId: string,
    /** The Docker network every container joins; 'none' (no network at all) until the DEA has made nap's. */
    readonly network: string = 'none',
    log?: Logger,
  ) {
    this.docker = new Docker({ socketPath });
    this.failures = log ? new RepeatedFailureLog(log) : null;
  }

  private readonly failures: RepeatedFailureLog | null;
  private engineReturn: Promise<void> | null = null;
  private away = false;
  /** Counts the engine's losses seen (a failed ping, a stream cut under a running container): output copied before one may have a gap. */
  private losses = 0;
  private readonly backListeners: (() => void)[] = [];

  /** Called each time the engine answers again after it was seen away (the DEA tidies what it could not do meanwhile). */
  onEngineBack(listener: () => void): void {
    this.backListeners.push(listener);
  }

  /** Set while the engine does not answer (from the first failed try until it answers again). */
  get engineAway(): boolean {
    return this.away;
  }

  /**
   * Resolves once the engine answers again (dockerd restarts for an upgrade or after a crash; with
   * live-restore its containers run on meanwhile). One wait is shared by everyone who lost it.
   */
  private engineBack(): Promise<void> {
    this.engineLost();
    this.engineReturn ??= (async () => {
      const backoff = new Backoff({ minMs: 100, maxMs: 5_000 });
      for (;;) {
        try {
          await this.pingOnce();
          const wasAway = this.away;
          this.away = false;
          this.failures?.recovered(ENGINE_AWAY, 'Docker answers again');
          if (wasAway) for (const listener of this.backListeners) listener();
          return;
        } catch (err) {
          this.away = true;
          this.failures?.failed(ENGINE_AWAY, err);
          await sleep(backoff.next());
        }
      }
    })().finally(() => (this.engineReturn = null));
    return this.engineReturn;
  }

  private pool: { image: string; labels: Record<string, string>; idle: string[]; filling: Promise<void> | null } | null = null;

  /**
   * Joining a Docker bridge network costs about 0.7 s per container (dockerd sets up the namespace,
   * turns IPv6 off and wires its embedded DNS with a dozen iptables calls inside it), which was
   * most of an instance's start. So a DEA keeps a few network sandboxes ready (a `sleep` on nap's
   * network, as Kubernetes keeps a pause container per pod), and each instance or staging container
   * joins one (`container:<sandbox>`, same namespace, same firewall); the sandbox goes with it.
   */
  keepSandboxesReady(image: string, labels: Record<string, string>): void {
    if (this.network === 'none' || this.network === 'host') return;
    this.pool = { image, labels: { ...labels, 'nap.kind': 'net-sandbox' }, idle: [], filling: null };
    this.refill();
  }

  private refill(): void {
    const pool = this.pool;
    if (!pool || pool.filling) return;
    pool.filling = (async () => {
      while (pool.idle.length < SANDBOX_POOL_SIZE) {
        try {
          pool.idle.push(await this.newSandbox());
        } catch {
          return; // the next take makes one itself, and refills again
        }
      }
    })().finally(() => (pool.filling = null));
  }

  private async newSandbox(): Promise<string> {
    const pool = this.pool!;
    const name = `nap-net-${randomBytes(6).toString('hex')}`;
    const container = await this.create({ name, image: pool.image, cmd: ['sleep', 'infinity'], entrypoint: [], env: {}, binds: [], memoryMb: 16, labels: pool.labels, ownNetwork: true });
    try {
      await container.start();
    } catch (err) {
      await container.remove({ force: true }).catch(() => {});
      throw err;
    }
    return container.id;
  }

  /** A ready sandbox that still runs (dockerd may have restarted, or someone removed it), else a new one. */
  private async takeSandbox(): Promise<string> {
    const pool = this.pool!;
    for (let ready = pool.idle.shift(); ready; ready = pool.idle.shift()) {
      const running = await this.isRunning(ready);
      if (running) {
        this.refill();
        return ready;
      }
      await this.removeOne(ready).catch(() => {});
    }
    this.refill();
    return this.newSandbox();
  }

  /** A DEA that stops takes its ready sandboxes with it: `nap down` can then remove the network. */
  async dropReadySandboxes(): Promise<void> {
    const pool = this.pool;
    if (!pool) return;
    this.pool = null;
    await pool.filling;
    for (const id of pool.idle.splice(0)) await this.removeOne(id).catch(() => {});
  }

  /** Idle sandboxes of an earlier run of this DEA (no container joined them): removed. */
  async removeUnusedSandboxes(deaLabels: Record<string, string>): Promise<void> {
    const all = await this.list(deaLabels);
    const used = new Set(all.map((c) => c.Labels[SANDBOX_LABEL]).filter(Boolean));
    for (const c of all) if (c.Labels['nap.kind'] === 'net-sandbox' && !used.has(c.Id) && !this.pool?.idle.includes(c.Id)) await this.removeOne(c.Id);
  }

  async ping(): Promise<void> {
    await this.docker.ping();
  }

  async imageExists(image: string): Promise<boolean> {
    return (await this.inspectImage(image)) !== null;
  }

  /** null when this engine does not have the image. */
  async inspectImage(image: string): Promise<Docker.ImageInspectInfo | null> {
    try {
      return await this.docker.getImage(image).inspect();
    } catch {
      return null;
    }
  }

  /** The labels every image and container of this installation carries. */
  installationLabels(labels: Record<string, string>): Record<string, string> {
    return { ...labels, 'nap.installation': this.installationId };
  }

  /**
   * Makes the installation's bridge network unless it is there; one that is there with another
   * subnet or bridge is refused (nap's rules name that bridge and subnet).
   */
  async ensureNetwork(name: string, bridge: string, subnet: string): Promise<void> {
    const check = (info: Docker.NetworkInspectInfo) => {
      const have = info.IPAM?.Config?.[0]?.Subnet;
      const haveBridge = info.Options?.['com.docker.network.bridge.name'];
      if (info.Driver !== 'bridge' || have !== subnet || haveBridge !== bridge) {
        throw new Error(
          `the Docker network ${name} exists with driver ${info.Driver}, subnet ${have ?? 'none'}, bridge ${haveBridge ?? 'none'}; nap wants bridge ${bridge} on ${subnet}: ` +
            `remove it (nap down, or docker network rm ${name} once no container uses it) or set NAP_CONTAINER_SUBNET to ${have}`,
        );
      }
    };
    const inspect = () => this.docker.getNetwork(name).inspect() as Promise<Docker.NetworkInspectInfo>;
    try {
      return check(await inspect());
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet }] },
        Options: { 'com.docker.network.bridge.name': bridge },
        Labels: this.installationLabels({ 'nap.kind': 'network' }),
      });
    } catch (err) {
      // Another DEA of this installation made it at the same moment: Docker says 409, or 403
      // "Pool overlaps" when the other's pool was allocated first, which can be a moment before
      // the network itself can be inspected. Ours if it is there within a few seconds.
      const status = (err as { statusCode?: number }).statusCode;
      for (let attempt = 0; ; attempt++) {
        const made = await inspect().catch(() => null);
        if (made) return check(made);
        if ((status !== 403 && status !== 409) || attempt >= 10) throw err;
        await sleep(300);
      }
    }
  }

  /** A running container's address on nap's network; null when it has none. */
  async addressOf(id: string): Promise<string | null> {
    try {
      let info = await this.docker.getContainer(id).inspect();
      const sandbox = info.Config.Labels?.[SANDBOX_LABEL];
      if (sandbox) info = await this.docker.getContainer(sandbox).inspect();
      return info.NetworkSettings.Networks?.[this.network]?.IPAddress || null;
    } catch {
      return null;
    }
  }

  /** POST /build: the caller reads the progress stream (JSON lines) to its end. */
  async buildImage(context: NodeJS.ReadableStream, options: Record<string, unknown>, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    return (await this.docker.buildImage(context, { ...options, abortSignal: signal } as Docker.ImageBuildOptions)) as NodeJS.ReadableStream;
  }

  /** `docker save` of one image, as a tar stream. */
  async saveImage(image: string): Promise<NodeJS.ReadableStream> {
    return this.docker.getImage(image).get();
  }

  /** `docker load`: the tar may be gzip'd. Resolves with the engine's progress stream. */
  async loadImage(tar: NodeJS.ReadableStream): Promise<NodeJS.ReadableStream> {
    return (await this.docker.loadImage(tar, { quiet: true })) as NodeJS.ReadableStream;
  }

  /** Removes an image (and its untagged parents); one still in use or already gone is left alone. */
  async removeImage(image: string, force = false): Promise<boolean> {
    try {
      await this.docker.getImage(image).remove({ force });
      return true;
    } catch {
      return false;
    }
  }

  /** Every image on the engine, whoever made it, intermediate ones included (full sha256: ids). */
  async allImageIds(): Promise<Set<string>> {
    return new Set((await this.docker.listImages({ all: true })).map((i) => i.Id));
  }

  /** Images of this installation carrying all the given labels. */
  async listImages(labels: Record<string, string>): Promise<Docker.ImageInfo[]> {
    const filters = [`nap.installation=${this.installationId}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
    return this.docker.listImages({ filters: { label: filters } });
  }

  private async create(spec: ContainerSpec): Promise<Docker.Container> {
    const sandbox = this.pool && !spec.ownNetwork ? await this.takeSandbox() : null;
    try {
      return await this.createIn(spec, sandbox);
    } catch (err) {
      if (sandbox) await this.removeOne(sandbox).catch(() => {});
      throw err;
    }
  }

  private async createIn(spec: ContainerSpec, sandbox: string | null): Promise<Docker.Container> {
    return this.docker.createContainer({
      name: spec.name,
      Image: spec.image,
      Cmd: spec.cmd,
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      User: spec.user ?? `${VCAP.uid}:${VCAP.gid}`,
      ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
      Tty: spec.tty ?? false,
      Labels: this.installationLabels(sandbox ? { ...spec.labels, [SANDBOX_LABEL]: sandbox } : spec.labels),
      HostConfig: {
        // Never the host's network: nap's bridge (its own namespace per container, nap's firewall
        // rules around it), or none at all.
        NetworkMode: sandbox ? `container:${sandbox}` : this.network,
        Binds: spec.binds,
        Memory: spec.memoryMb * 1024 * 1024,
        // No swap beyond the limit: an app over its memory is killed, as Cloud Foundry does.
        MemorySwap: spec.memoryMb * 1024 * 1024,
        PidsLimit: 4096,
        ...hostLimits(spec.memoryMb, spec.fds),
        Init: true,
        // Apps and buildpacks need no privileges: none to keep, none to gain through setuid.
        CapDrop: ['ALL'],
        // nap's rules are IPv4; the namespace gets no IPv6 at all rather than unfiltered IPv6.
        // (Only bench/router still runs a container on the host's network, to compare the paths.)
        // A sandbox's member shares the sandbox's namespace, IPv6 already off there.
        ...(this.network === 'host' || sandbox ? {} : { Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1' } }),
        SecurityOpt: ['no-new-privileges'],
        // Docker's own copy of the output is bounded too; the DEA's files are what users read.
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
      },
    });
  }

  /**
   * Creates and starts a long-running container, its stdout and stderr copied as they are written
   * into two rotating log files (attached before the start, so not even the first byte is missed,
   * and raw, so a line the app never ends is there too). `logsCopied` resolves once the container
   * has ended and all it wrote is in the files: an app that crashes at once leaves its last words.
   */
  async start(spec: ContainerSpec, logs: LogFiles): Promise<{ id: string; logsCopied: Promise<void> }> {
    const container = await this.create(spec);
    let logsCopied: Promise<void>;
    try {
      logsCopied = (await this.attachLogs(container.id, logs)).copied;
      // Handled here at once: if the start below fails, nobody else will wait for this.
      logsCopied.catch(() => {});
      await container.start();
    } catch (err) {
      await this.remove(container.id).catch(() => {});
      throw err;
    }
    return { id: container.id, logsCopied };
  }

  /** Runs a container to its end, streaming its output; kills it past the deadline. */
  async runToCompletion(spec: ContainerSpec, output: Writable, timeoutMs: number): Promise<ContainerExit & { timedOut: boolean }> {
    const container = await this.create({ ...spec, tty: true });
    let timedOut = false;
    try {
      const stream = await container.attach({ stream: true, stdout: true, stderr: true });
      stream.pipe(output, { end: false });
      await container.start();
      const timer = setTimeout(() => {
        timedOut = true;
        container.kill().catch(() => {});
      }, timeoutMs);
      const exit = await this.wait(container.id).finally(() => clearTimeout(timer));
      // Let the last output arrive before the caller reads the log.
      await new Promise<void>((resolve) => {
        if ((stream as NodeJS.ReadableStream & { readableEnded?: boolean }).readableEnded) resolve();
        else {
          stream.once('end', () => resolve());
          setTimeout(resolve, 1000).unref();
        }
      });
      return { ...exit, timedOut };
    } finally {
      await this.remove(container.id).catch(() => {});
    }
  }

  /**
   * A container that only holds a network namespace on nap's network, and a handle on that
   * namespace. The handle is opened by pid, then the container is asked again whether that pid is
   * still its process: a pid is not reused while its process lives, so the handle cannot be some
   * other process's namespace (had the sandbox died and its pid gone to another in between).
   */
  async startNetworkSandbox(name: string, image: string, labels: Record<string, string>): Promise<{ id: string; netns: FileHandle }> {
    const container = await this.create({ name, image, cmd: ['sleep', 'infinity'], entrypoint: [], env: {}, binds: [], memoryMb: 16, labels, ownNetwork: true });
    let netns: FileHandle | null = null;
    try {
      await container.start();
      const pid = (await container.inspect()).State.Pid;
      if (!pid) throw new Error(`the network sandbox ${name} has no process`);
      netns = await open(`/proc/${pid}/ns/net`, 'r');
      const after = (await container.inspect()).State;
      if (!after.Running || after.Pid !== pid) throw new Error(`the network sandbox ${name} stopped while it was being joined`);
      return { id: container.id, netns };
    } catch (err) {
      await netns?.close().catch(() => {});
      await container.remove({ force: true }).catch(() => {});
      throw err;
    }
  }

  /**
   * Copies what a container writes from now on into its log files (used for adopted containers
   * too), for as long as it runs, across restarts of the engine: see `copyLogs`.
   */
  async attachLogs(id: string, logs: LogFiles): Promise<{ copied: Promise<void> }> {
    const stream = await this.attachOutput(id);
    return { copied: this.copyLogs(id, stream, logs) };
  }

  private async attachOutput(id: string): Promise<NodeJS.ReadableStream> {
    return (await this.docker.getContainer(id).attach({ stream: true, stdout: true, stderr: true })) as NodeJS.ReadableStream;
  }

  async isRunning(id: string): Promise<boolean> {
    try {
      return (await this.docker.getContainer(id).inspect()).State.Running;
    } catch {
      return false;
    }
  }

  /**
   * The attached stream ends when the container does, and also when dockerd goes away. Then, once
   * the engine answers again, a container still running is attached to again, and what it wrote
   * while nobody was attached is taken from the engine's own log (json-file, bounded) between the
   * last byte received and the new attach: the files have no gap. A container that ended has the
   * same done for its last words.
   */
  private async copyLogs(id: string, first: NodeJS.ReadableStream, logs: LogFiles): Promise<void> {
    const out = new RotatingLog(logs.stdout, logs.maxBytes);
    const err = new RotatingLog(logs.stderr, logs.maxBytes);
    // A write that fails (a full disk) loses that output; it must never take the DEA down with it.
    const write = (log: RotatingLog, chunk: Buffer, at?: Date) => {
      try {
        log.write(chunk, at);
      } catch {
        // dropped: the next write tries again
      }
      try {
        logs.onOutput?.(log === err ? 'stderr' : 'stdout', chunk);
      } catch {
        // a drain's trouble is never the log's
      }
    };
    // The last bytes each stream delivered: the engine's log may hold them again past `lastSeen`.
    const tails = new Map<number, Buffer>();
    const sink = (log: RotatingLog, stream: number) =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lastSeen = Date.now();
          tails.set(stream, keepTail(tails.get(stream), chunk));
          write(log, chunk);
          done();
        },
      }).on('error', () => {});
    let lastSeen = Date.now();
    const backoff = new Backoff({ minMs: 200, maxMs: 5_000 });
    try {
      for (let stream: NodeJS.ReadableStream | null = first; stream; ) {
        const attachedAt = Date.now();
        const lossesAtAttach = this.losses;
        await new Promise<void>((resolve) => {
          const s = stream as NodeJS.ReadableStream & { destroyed?: boolean; readableEnded?: boolean };
          // Cut while the missed output was being read: no event will come any more.
          if (s.destroyed || s.readableEnded) return resolve();
          this.docker.modem.demuxStream(stream!, sink(out, 1), sink(err, 2));
          stream!.once('end', () => resolve());
          stream!.once('close', () => resolve());
          stream!.once('error', () => resolve());
        });
        if (Date.now() - attachedAt > 10_000) backoff.reset();
        const missed = (frames: LogFrame[]) => {
          for (const frame of unseenFrames(frames, tails, lastSeen)) {
            tails.set(frame.stream, keepTail(tails.get(frame.stream), frame.data));
            write(frame.stream === 2 ? err : out, frame.data, frame.at);
          }
        };
        const next = await this.reattach(id, lastSeen, backoff, missed, lossesAtAttach).catch(() => null);
        if (next) lastSeen = next.at;
        stream = next?.stream ?? null;
      }
    } finally {
      out.close();
      err.close();
    }
  }

  /**
   * After an attached stream ended: the output missed since `since`, and a new stream (with the
   * moment it begins) if the container still runs; null once it is over. A stream that keeps
   * ending at once (an engine half up) is attached again only after a back-off.
   */
  private async reattach(id: string, since: number, backoff: Backoff, write: (frames: LogFrame[]) => void, lossesAtAttach: number): Promise<{ stream: NodeJS.ReadableStream; at: number } | null> {
    for (;;) {
      let running: boolean;
      try {
        running = (await this.docker.getContainer(id).inspect()).State.Running;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return null;
        await this.engineBack();
        await sleep(backoff.next());
        continue;
      }
      if (!running) {
        // The usual end: the stream ended with the container, nothing was missed (no loss since the attach).
        if (this.losses !== lossesAtAttach) await this.missedOutput(id, since, null, write).catch(() => {});
        return null;
      }
      // The stream ended under a running container: the engine dropped its connections (it
      // restarted, maybe behind a socket systemd held open, where no request ever fails). Its waits
      // hang on those dropped connections: they are made again.
      this.engineLost();
      await sleep(backoff.next());
      const stream = await this.attachOutput(id).catch(() => null);
      if (!stream) {
        await this.engineBack();
        continue;
      }
      const at = Date.now();
      // Attaching to a container that exited meanwhile would wait for it to start again.
      if (!(await this.isRunning(id))) {
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        await this.missedOutput(id, since, null, write).catch(() => {});
        return null;
      }
      await this.missedOutput(id, since, at, write).catch(() => {});
      return { stream, at };
    }
  }

  /** What the engine logged of a container between two moments (unix ms; `until` null: to its end). */
  private async missedOutput(id: string, since: number, until: number | null, write: (frames: LogFrame[]) => void): Promise<void> {
    const options = { follow: false, stdout: true, stderr: true, timestamps: true, since: (since / 1000).toFixed(3), ...(until ? { until: (until / 1000).toFixed(3) } : {}) };
    const body = (await this.docker.getContainer(id).logs(options as unknown as Docker.ContainerLogsOptions & { follow: false })) as Buffer;
    write(logFrames(body));
  }

  /**
   * A process started in a running container (nap ssh) as `user`, with the container's env: its
   * byte stream (stdin in; out, and err when there is no terminal, multiplexed), and ways to
   * resize its terminal, learn its exit code and kill it.
   */
  async exec(id: string, opts: { cmd: string[]; tty: boolean; user: string; env: string[]; workingDir: string }): Promise<ExecSession> {
    const exec = await this.docker.getContainer(id).exec({
      Cmd: opts.cmd,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: opts.tty,
      User: opts.user,
      Env: opts.env,
      WorkingDir: opts.workingDir,
    });
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: opts.tty })) as unknown as import('node:stream').Duplex;
    return {
      stream,
      demux: (stdout, stderr) => this.docker.modem.demuxStream(stream, stdout, stderr),
      resize: async (cols, rows) => void (await exec.resize({ w: cols, h: rows }).catch(() => {})),
      exitCode: async () => (await exec.inspect()).ExitCode ?? null,
      // Only while it runs: a pid of a process that ended may be another's by now.
      pid: async () => {
        const info = await exec.inspect();
        return info.Running ? (info.Pid ?? null) : null;
      },
    };
  }

  /**
   * A container's counters now (Docker's one-shot stats: no second sample, so no second's wait):
   * its memory less the page cache, and its CPU time against the machine's, from which two
   * readings give a CPU share.
   */
  async usage(id: string): Promise<ContainerUsage> {
    const stats = (await this.docker.getContainer(id).stats({ stream: false, 'one-shot': true })) as unknown as {
      memory_stats?: { usage?: number; stats?: Record<string, number> };
      cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
    };
    const memory = stats.memory_stats ?? {};
    // cgroup v1 counts the page cache in usage (stats.cache), v2 as inactive_file: neither is the app's.
    const cache = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? memory.stats?.cache ?? 0;
    return {
      memBytes: typeof memory.usage === 'number' ? Math.max(0, memory.usage - cache) : null,
      cpuNs: stats.cpu_stats?.cpu_usage?.total_usage ?? null,
      systemNs: stats.cpu_stats?.system_cpu_usage ?? null,
      cpus: stats.cpu_stats?.online_cpus ?? 1,
    };
  }

  /**
   * How a container ended. A wait cut short by the engine going away (or answered for a container
   * that still runs, as a dockerd shutting down may) is waited again once the engine is back.
   * Throws ContainerGone when the container no longer exists.
   */
  async wait(id: string): Promise<ContainerExit> {
    const container = this.docker.getContainer(id);
    const backoff = new Backoff({ minMs: 200, maxMs: 5_000 });
    for (;;) {
      const lost = new AbortController();
      this.pendingWaits.add(lost);
      this.watchEngine();
      // The abort destroys the request, but a response already begun then never settles: raced.
      const abandoned = new Promise<Error>((resolve) => lost.signal.addEventListener('abort', () => resolve(new Error('the engine went away'))));
      const result = await Promise.race([(container.wait({ abortSignal: lost.signal }) as Promise<{ StatusCode: number }>).catch((err: Error) => err), abandoned]).finally(() =>
        this.pendingWaits.delete(lost),
      );
      if (lost.signal.aborted) await this.engineBack();
      const info = await container.inspect().catch((err: { statusCode?: number }) => err);
      if ((info as { statusCode?: number }).statusCode === 404) throw new ContainerGone(`container ${id.slice(0, 12)} is gone`);
      const state = (info as Docker.ContainerInspectInfo).State;
      if (state && !state.Running && typeof (result as { StatusCode?: unknown }).StatusCode === 'number') return { exitCode: (result as { StatusCode: number }).StatusCode, oomKilled: state.OOMKilled ?? false };
      if (state && !state.Running && !state.Restarting) return { exitCode: state.ExitCode, oomKilled: state.OOMKilled ?? false };
      if (!state) await this.engineBack();
      await sleep(backoff.next());
    }
  }

  private readonly pendingWaits = new Set<AbortController>();
  private engineWatch: NodeJS.Timeout | null = null;

  /**
   * A wait on a dockerd that dies is neither answered nor failed: the connection ends mid-body and
   * the request hangs for ever. So while any wait is pending the engine is pinged every
   * ENGINE_WATCH_MS, and when it does not answer every wait is aborted (and made again once it does).
   */
  private watchEngine(): void {
    if (this.engineWatch) return;
    let pinging = false;
    this.engineWatch = setInterval(() => {
      if (this.pendingWaits.size === 0) {
        clearInterval(this.engineWatch!);
        this.engineWatch = null;
        return;
      }
      if (pinging) return;
      pinging = true;
      void this.checkEngine().finally(() => (pinging = false));
    }, ENGINE_WATCH_MS);
    this.engineWatch.unref();
  }

  /**
   * One ping, bounded: an engine that does not answer within ENGINE_WATCH_MS is away (a hung
   * dockerd too). Then every wait is made again once it answers, and `engineAway` says so (a DEA
   * advertises no room meanwhile). The DEA calls this every few seconds, with or without instances.
   */
  async checkEngine(): Promise<boolean> {
    const answered = await this.pingOnce().then(
      () => true,
      () => false,
    );
    if (!answered && !this.away) void this.engineBack();
    return answered;
  }

  private pingOnce(): Promise<unknown> {
    return (this.docker.ping as unknown as (opts: object) => Promise<unknown>)({ abortSignal: AbortSignal.timeout(ENGINE_WATCH_MS) });
  }

  /** Every pending wait is made again once the engine answers; output copied since may have a gap. */
  private engineLost(): void {
    this.losses++;
    for (const w of this.pendingWaits) w.abort();
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    await this.docker
      .getContainer(id)
      .stop({ t: graceSeconds })
      .catch((err: { statusCode?: number }) => {
        // 304: already stopped; 404: already gone. Both are what we wanted.
        if (err.statusCode !== 304 && err.statusCode !== 404) throw err;
      });
  }

  /** Removes a container, and the network sandbox it joined. */
  async remove(id: string): Promise<void> {
    const info = await this.docker
      .getContainer(id)
      .inspect()
      .catch(() => null);
    await this.removeOne(id);
    const sandbox = info?.Config.Labels?.[SANDBOX_LABEL];
    if (sandbox) await this.removeOne(sandbox);
  }

  private async removeOne(id: string): Promise<void> {
    await this.docker
      .getContainer(id)
      .remove({ force: true })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
      });
  }

  /** Containers of this installation carrying all the given labels. */
  async list(labels: Record<string, string>): Promise<Docker.ContainerInfo[]> {
    const filters = [`nap.installation=${this.installationId}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
    return this.docker.listContainers({ all: true, filters: { label: filters } });
  }

  async memoryUsage(id: string): Promise<number | null> {
    try {
      const stats = (await this.docker.getContainer(id).stats({ stream: false })) as { memory_stats?: { usage?: number } };
      return stats.memory_stats?.usage ?? null;
    } catch {
      return null;
    }
  }

  /**
   * The container's writable layer on the host (overlay2's upper dir), where everything it writes
   * outside its bind mounts lands; null when the engine does not say (another storage driver).
   */
  async writableLayer(id: string): Promise<string | null> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      return (info.GraphDriver?.Data as Record<string, string> | undefined)?.UpperDir ?? null;
    } catch {
      return null;
    }
  }

  /** Where the engine keeps images and writable layers (`docker info` DockerRootDir). */
  async rootDir(): Promise<string | null> {
    try {
      return ((await this.docker.info()) as { DockerRootDir?: string }).DockerRootDir ?? null;
    } catch {
      return null;
    }
  }

  /**
   * Small text files of an image (its /etc/passwd, say), read without running anything: a created,
   * never started container is copied from and removed. A missing file, a link or one over 1 MiB
   * is null.
   */
  async readImageFiles(image: string, paths: string[]): Promise<(string | null)[]> {
    const container = await this.docker.createContainer({
      Image: image,
      Entrypoint: ['/nonexistent'],
      Cmd: [],
      NetworkDisabled: true,
      Labels: this.installationLabels({ 'nap.kind': 'image-probe' }),
    });
    try {
      return await Promise.all(paths.map((path) => this.readFileOf(container, path)));
    } finally {
      await container.remove({ force: true }).catch(() => {});
    }
  }

  private async readFileOf(container: Docker.Container, path: string): Promise<string | null> {
    const MAX = 1024 * 1024;
    let archive: NodeJS.ReadableStream;
    try {
      archive = (await container.getArchive({ path })) as NodeJS.ReadableStream;
    } catch {
      return null;
    }
    return new Promise((resolve) => {
      let found: string | null = null;
      const parser = new TarParser({
        onReadEntry: (entry) => {
          if (entry.type !== 'File' || (entry.size ?? 0) > MAX || found !== null) return entry.resume();
          const chunks: Buffer[] = [];
          entry.on('data', (c: Buffer) => chunks.push(c));
          entry.on('end', () => (found = Buffer.concat(chunks).toString('utf8')));
        },
      });
      parser.on('end', () => resolve(found));
      parser.on('error', () => resolve(null));
      archive.on('error', () => resolve(null));
      archive.pipe(parser as unknown as NodeJS.WritableStream);
    });
  }
}

export interface LogFrame {
  /** 1 stdout, 2 stderr. */
  stream: number;
  at: Date;
  data: Buffer;
}

/**
 * The engine's multiplexed log of a container without a TTY, with timestamps: frames of an 8-byte
 * header (stream, 0, 0, 0, length big-endian) and a payload that starts with an RFC 3339 time.
 */
export function logFrames(body: Buffer): LogFrame[] {
  const frames: LogFrame[] = [];
  for (let at = 0; at + 8 <= body.length; ) {
    const stream = body[at];
    const size = body.readUInt32BE(at + 4);
    const payload = body.subarray(at + 8, at + 8 + size);
    at += 8 + size;
    const space = payload.indexOf(0x20);
    const time = space > 0 ? new Date(payload.subarray(0, space).toString()) : new Date(NaN);
    frames.push({ stream, at: Number.isNaN(time.getTime()) ? new Date() : time, data: space > 0 ? payload.subarray(space + 1) : payload });
  }
  return frames;
}

const TAIL_BYTES = 16 * 1024;

function keepTail(tail: Buffer | undefined, chunk: Buffer): Buffer {
  const joined = tail ? Buffer.concat([tail, chunk]) : chunk;
  return joined.length > TAIL_BYTES ? Buffer.from(joined.subarray(joined.length - TAIL_BYTES)) : joined;
}

/** How far past the last byte received the engine's timestamp of that same byte may lie. */
const OVERLAP_MS = 2_000;

/**
 * The engine timestamps a line when its log driver reads it, which can be a little after the
 * attached stream delivered it: the first frames of the engine's log since `since` may be lines
 * already copied. Per stream, the longest run of leading frames (within OVERLAP_MS) that is
 * exactly the end of what the stream delivered is dropped; a line the app really printed twice
 * stays, unless it is that very end.
 */
export function unseenFrames(frames: LogFrame[], tails: Map<number, Buffer>, since: number): LogFrame[] {
  const skip = new Set<LogFrame>();
  for (const [stream, tail] of tails) {
    const own = frames.filter((f) => f.stream === stream);
    let best = 0;
    for (let k = 1, bytes = Buffer.alloc(0); k <= own.length && own[k - 1].at.getTime() < since + OVERLAP_MS; k++) {
      bytes = Buffer.concat([bytes, own[k - 1].data]);
      if (bytes.length > tail.length) break;
      if (tail.subarray(tail.length - bytes.length).equals(bytes)) best = k;
    }
    for (const f of own.slice(0, best)) skip.add(f);
  }
  return frames.filter((f) => !skip.has(f));
}
