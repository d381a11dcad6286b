import { Backoff, type Etcd3, type Logger, readPrefixSnapshot, RepeatedFailureLog } from '@nap/common';

export interface EtcdMirrorOptions {
  /** First wait after a failed read of etcd; doubles up to `maxRetryMs`. */
  minRetryMs?: number;
  maxRetryMs?: number;
  /** A failure that keeps happening is logged once per this interval, with a count. */
  warnIntervalMs?: number;
  /** Keys per page of the first read (certificates weigh up to 40 KB each). */
  pageSize?: number;
}

/** What a mirror keeps up to date: keys are relative to the prefix. */
export interface MirrorSink {
  /** Everything under the prefix, as a fresh read found it. */
  replace(entries: Map<string, string>): void;
  put(key: string, value: string): void;
  delete(key: string): void;
}

type Watcher = Awaited<ReturnType<ReturnType<Etcd3['watch']>['create']>>;

const defaults: Required<EtcdMirrorOptions> = { minRetryMs: 250, maxRetryMs: 10_000, warnIntervalMs: 60_000, pageSize: 64 };

/**
 * One prefix of etcd mirrored into the router (route claims, route options, certificates): the only
 * way the router reads etcd, and it only reads.
 *
 * One read of the prefix, then a watch from the revision after it. While etcd is unreachable the
 * last known entries stay (the router keeps serving); a failed read is retried with bounded
 * back-off, and etcd3's watcher resumes from its last revision by itself once etcd is back. A
 * watch that etcd cancels (its revision was compacted) starts over with a fresh read.
 */
export class EtcdMirror {
  private readonly opts: Required<EtcdMirrorOptions>;
  private watcher?: Watcher;
  private retryTimer?: NodeJS.Timeout;
  private readonly backoff: Backoff;
  private readonly failures: RepeatedFailureLog;
  private readonly unreachable: string;
  private failing = false;
  private loadedOnce = false;
  private stopped = false;

  constructor(
    private readonly etcd: Etcd3,
    private readonly prefix: string,
    private readonly sink: MirrorSink,
    private readonly log: Logger,
    /** What the prefix holds, for the log: "route claims". */
    private readonly what: string,
    opts: EtcdMirrorOptions = {},
    /** How many entries it holds now, for the log. */
    private readonly count: () => number = () => 0,
  ) {
    this.opts = { ...defaults, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
    this.backoff = new Backoff({ minMs: this.opts.minRetryMs, maxMs: this.opts.maxRetryMs });
    this.failures = new RepeatedFailureLog(log, this.opts.warnIntervalMs);
    this.unreachable = `etcd unreachable: serving on the last known ${what}, retrying`;
  }

  /** Whether the prefix has been read at least once and the watch is live now, for /varz. */
  get connected(): boolean {
    return this.loadedOnce && !this.failing;
  }

  /** Starts; resolves after the first read succeeded or failed (it is retried), never rejects. */
  async start(): Promise<void> {
    await this.sync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel().catch(() => {});
  }

  private async sync(): Promise<void> {
    if (this.stopped) return;
    const prefix = this.prefix;
    try {
      // In pages: one answer past etcd3's 4 MiB would close the client's channels (etcd-pages.ts).
      const read = await readPrefixSnapshot(this.etcd, prefix, this.opts.pageSize);
      if (this.stopped) return;
      this.sink.replace(new Map([...read.entries].map(([k, v]) => [k.slice(prefix.length), v])));
      this.loadedOnce = true;
      const watcher = await this.etcd
        .watch()
        .prefix(prefix)
        .startRevision(String(BigInt(read.revision) + 1n))
        .create();
      if (this.stopped) {
        await watcher.cancel().catch(() => {});
        return;
      }
      this.watcher = watcher;
      watcher
        .on('put', (kv) => this.sink.put(kv.key.toString().slice(prefix.length), kv.value.toString()))
        .on('delete', (kv) => this.sink.delete(kv.key.toString().slice(prefix.length)))
        .on('disconnected', (err: Error) => this.failed(err))
        .on('connected', () => this.recovered())
        .on('error', (err: Error) => {
          // Not recoverable by the watcher itself (e.g. the revision was compacted): read again.
          this.failed(err);
          if (this.watcher === watcher) this.watcher = undefined;
          void watcher.cancel().catch(() => {});
          this.retry();
        });
      this.recovered();
    } catch (err) {
      this.failed(err as Error);
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.sync(), this.backoff.next());
    this.retryTimer.unref();
  }

  private failed(err: Error): void {
    if (this.stopped) return;
    this.failing = true;
    this.failures.failed(this.unreachable, err, { entries: this.count() });
  }

  private recovered(): void {
    this.backoff.reset();
    this.failing = false;
    this.failures.recovered(this.unreachable, `etcd reachable again: ${this.what} are live`, { entries: this.count() });
  }
}
