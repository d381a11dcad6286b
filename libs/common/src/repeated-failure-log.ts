import type { Logger } from 'pino';

/**
 * Logs a failure that repeats in a loop once per interval, with how many times it happened since
 * the last line, and one line when it stops. An engine that is away for an hour costs a line a
 * minute, not a line per retry (a DEA once wrote 359 MB in three minutes). The error's message is
 * logged, not its stack: the stack of the hundredth reconnect says nothing the first did not.
 */
export class RepeatedFailureLog {
  private readonly failing = new Map<string, { since: number; loggedAt: number; unlogged: number; total: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** One more failure of `what` (a short fixed phrase: it is the key). */
  failed(what: string, err: unknown, fields: Record<string, unknown> = {}): void {
    const t = this.now();
    const entry = this.failing.get(what);
    if (!entry) {
      this.failing.set(what, { since: t, loggedAt: t, unlogged: 0, total: 1 });
      this.log.warn({ ...fields, err: messageOf(err) }, what);
      return;
    }
    entry.total++;
    if (t - entry.loggedAt < this.intervalMs) {
      entry.unlogged++;
      return;
    }
    this.log.warn({ ...fields, err: messageOf(err), repeated: entry.unlogged + 1, failing_for_s: Math.round((t - entry.since) / 1000) }, what);
    entry.loggedAt = t;
    entry.unlogged = 0;
  }

  /** `what` works again: a line saying so, if it had failed. */
  recovered(what: string, message: string, fields: Record<string, unknown> = {}): void {
    const entry = this.failing.get(what);
    if (!entry) return;
    this.failing.delete(what);
    this.log.info({ ...fields, failures: entry.total, failing_for_s: Math.round((this.now() - entry.since) / 1000) }, message);
  }

  isFailing(what: string): boolean {
    return this.failing.has(what);
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
