import { Backoff, keys, type Etcd3, type Logger, RepeatedFailureLog } from '@nap/common';
import type { RouteTable } from '../table/route-table.js';

export interface ClaimWatcherOptions {
  /** First wait after a failed read of etcd; doubles up to `maxRetryMs`. */
  minRetryMs?: number;
  maxRetryMs?: number;
  /** A failure that keeps happening is logged once per this interval, with a count. */
  warnIntervalMs?: number;
}

type Watcher = Awaited<ReturnType<ReturnType<Etcd3['watch']>['create']>>;

const defaults: Required<ClaimWatcherOptions> = { minRetryMs: 250, maxRetryMs: 10_000, warnIntervalMs: 60_000 };
const UNREACHABLE = 'etcd unreachable: routing on the last known route claims, retrying';

/**
 * etcd's route claims (`/nap/routes/<host>`, written by the controller) → the route table: the only
 * part of the router that reads etcd, and it only reads. The table needs them so that a claimed
 * host with no instance answers 503 instead of falling through to someone else's wildcard.
 *
 * One read of the prefix, then a watch from the revision after it. While etcd is unreachable the
 * last known claims stay in the table (the router keeps routing); a failed read is retried with
 * bounded back-off, and etcd3's watcher resumes from its last revision by itself once etcd is back.
 * A watch that etcd cancels (its revision was compacted) starts over with a fresh read.
 */
export class ClaimWatcher {
  private readonly opts: Required<ClaimWatcherOptions>;
  private watcher?: Watcher;
  private retryTimer?: NodeJS.Timeout;
  private readonly backoff: Backoff;
  private readonly failures: RepeatedFailureLog;
  private failing = false;
  private loadedOnce = false;
  private stopped = false;

  constructor(
    private readonly etcd: Etcd3,
    private readonly table: RouteTable,
    private readonly log: Logger,
    opts: ClaimWatcherOptions = {},
  ) {
    this.opts = { ...defaults, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
    this.backoff = new Backoff({ minMs: this.opts.minRetryMs, maxMs: this.opts.maxRetryMs });
    this.failures = new RepeatedFailureLog(log, this.opts.warnIntervalMs);
  }

  /** Whether the claims have been read at least once and the watch is live now, for /varz. */
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
    const prefix = keys.routes();
    try {
      const read = await this.etcd.getAll().prefix(prefix).exec();
      if (this.stopped) return;
      this.table.replaceClaims(read.kvs.map((kv) => kv.key.toString().slice(prefix.length)));
      this.loadedOnce = true;
      const watcher = await this.etcd
        .watch()
        .prefix(prefix)
        .startRevision(String(BigInt(read.header.revision) + 1n))
        .create();
      if (this.stopped) {
        await watcher.cancel().catch(() => {});
        return;
      }
      this.watcher = watcher;
      watcher
        .on('put', (kv) => this.table.claim(kv.key.toString().slice(prefix.length)))
        .on('delete', (kv) => this.table.unclaim(kv.key.toString().slice(prefix.length)))
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
    this.failures.failed(UNREACHABLE, err, { claims: this.table.claimCount });
  }

  private recovered(): void {
    this.backoff.reset();
    this.failing = false;
    this.failures.recovered(UNREACHABLE, 'etcd reachable again: route claims are live', { claims: this.table.claimCount });
  }
}
