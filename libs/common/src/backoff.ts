/**
 * The one way nap waits between tries of anything that failed: a reconnect, an election campaign,
 * a lease, a read of etcd. Exponential from `minMs` to the cap `maxMs`, with "equal jitter": each
 * wait is between half and all of the current step, so many processes that lost the same engine
 * at the same instant do not come back at the same instant, and no wait is ever near zero (a
 * failure that repeats at once cannot become a tight loop).
 */
export interface BackoffOptions {
  /** The first step; waits are at least half of it. Never below 10 ms. */
  minMs: number;
  /** The cap on a step. */
  maxMs: number;
  /** How much each failure multiplies the step by; 2 unless set. */
  factor?: number;
  /** [0, 1); Math.random unless set (tests make it fixed). */
  random?: () => number;
}

const FLOOR_MS = 10;

export class Backoff {
  private failures = 0;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions) {
    this.minMs = Math.max(FLOOR_MS, opts.minMs);
    this.maxMs = Math.max(this.minMs, opts.maxMs);
    this.factor = Math.max(1, opts.factor ?? 2);
    this.random = opts.random ?? Math.random;
  }

  /** Failures since the last success. */
  get attempts(): number {
    return this.failures;
  }

  /** Counts a failure and says how long to wait before the next try. */
  next(): number {
    const step = Math.min(this.maxMs, this.minMs * this.factor ** Math.min(this.failures, 64));
    this.failures++;
    return Math.round(step / 2 + (step / 2) * this.random());
  }

  /** A success: the next failure waits the shortest step again. */
  reset(): void {
    this.failures = 0;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (which is how a stopping service ends its waits). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface RetryOptions {
  backoff: Backoff;
  /** Stops the tries: `retry` then rejects with the last error. */
  signal?: AbortSignal;
  /** Each failure, before the wait (typically a RepeatedFailureLog's `failed`). */
  onFailure?: (err: unknown, waitMs: number) => void;
  /** Only failures it says yes to are tried again; any other is thrown at once. */
  retryIf?: (err: unknown) => boolean;
  /** No new try starts after this long (ms): the last failure is thrown. */
  withinMs?: number;
}

/** Calls `fn` until it succeeds, waiting out `backoff` between failures. */
export async function retry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const deadline = opts.withinMs === undefined ? Infinity : Date.now() + opts.withinMs;
  for (;;) {
    try {
      const value = await fn();
      opts.backoff.reset();
      return value;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (opts.retryIf && !opts.retryIf(err)) throw err;
      const wait = opts.backoff.next();
      if (Date.now() + wait > deadline) throw err;
      opts.onFailure?.(err, wait);
      await sleep(wait, opts.signal);
      if (opts.signal?.aborted) throw err;
    }
  }
}
