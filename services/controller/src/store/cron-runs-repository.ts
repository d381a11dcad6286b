import { type Etcd3, keys } from '@nap/common';
import { z } from 'zod';

/** Ticks kept per cron entry: enough for `nap cron` and for a new leader to see where things stand. */
const RUNS_KEPT = 50;

export const CronRun = z.object({
  tick: z.string(),
  /** claimed: a controller took the tick and is starting its task; started: it did; missed: nobody ran it in time. */
  state: z.enum(['claimed', 'started', 'missed']),
  task_sequence: z.number().int().nullable(),
  at: z.string(),
});
export type CronRun = z.infer<typeof CronRun>;

/**
 * Each tick of a cron entry is claimed once in etcd (a transaction that requires the key absent),
 * so two controllers, or one that took over from another, never run the same tick twice.
 */
export class CronRunsRepository {
  constructor(private readonly etcd: Etcd3) {}

  /** True when this caller got the tick. */
  async claim(appId: string, entry: string, tick: Date, state: 'claimed' | 'missed'): Promise<boolean> {
    const key = keys.cronRun(appId, entry, tick.getTime());
    const run: CronRun = { tick: tick.toISOString(), state, task_sequence: null, at: new Date().toISOString() };
    const res = await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(run))).commit();
    if (res.succeeded) await this.trim(appId, entry);
    return res.succeeded;
  }

  async settle(appId: string, entry: string, tick: Date, change: Pick<CronRun, 'state' | 'task_sequence'>): Promise<void> {
    const key = keys.cronRun(appId, entry, tick.getTime());
    const run: CronRun = { tick: tick.toISOString(), ...change, at: new Date().toISOString() };
    await this.etcd.put(key).value(JSON.stringify(run));
  }

  /** The newest tick of the entry that anyone claimed, or null. */
  async latest(appId: string, entry: string): Promise<CronRun | null> {
    const res = await this.etcd.getAll().prefix(keys.cronRuns(appId, entry)).sort('Key', 'Descend').limit(1).strings();
    const raw = Object.values(res)[0];
    if (raw === undefined) return null;
    const parsed = CronRun.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  }

  async deleteAll(appId: string): Promise<void> {
    await this.etcd.delete().prefix(keys.cronRuns(appId));
  }

  private async trim(appId: string, entry: string): Promise<void> {
    const all = (await this.etcd.getAll().prefix(keys.cronRuns(appId, entry)).keys()).sort();
    for (const key of all.slice(0, Math.max(0, all.length - RUNS_KEPT))) await this.etcd.delete().key(key);
  }
}
