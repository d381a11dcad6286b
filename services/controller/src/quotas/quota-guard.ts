import type { Settings } from '@nap/common';
import type { AppRecord } from '../apps/app-record.js';
import type { Caller } from '../auth/bearer.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { QuotasRepository } from '../store/quotas-repository.js';
import { type Quota, QUOTA_FIELDS, QuotaExceeded, type QuotaUse, useOf } from './quota.js';

/**
 * Every change that can raise what a developer holds (a new app, more instances, more memory, a
 * start, a similar app, a rollback) asks `check` first, with the app as it is and as it would be.
 * A change is refused only where it would end over a limit and above what is used now, so that a
 * developer an admin put below their current use can still scale down. Admins have no quota.
 */
export class QuotaGuard {
  /** One quota-checked change per user at a time in this controller, so two requests cannot both fit in the last slot. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly apps: AppsRepository,
    private readonly quotas: QuotasRepository,
    private readonly defaults: Settings['defaultQuota'],
  ) {}

  /** The quota of a user: the one an admin set, else the default of NAP_QUOTA_*. */
  async limitOf(user: string): Promise<Quota> {
    const set = await this.quotas.get(user);
    return set ? { apps: set.apps, instances: set.instances, memory_mb: set.memory_mb } : { ...this.defaults };
  }

  async useOf(user: string): Promise<QuotaUse> {
    return useOf((await this.apps.list()).filter((a) => a.owner === user));
  }

  /** Throws QuotaExceeded when the change from `before` to `after` (either may be null: a new or deleted app) takes the caller over their quota. */
  async check(caller: Caller | undefined, before: AppRecord | null, after: AppRecord | null): Promise<void> {
    if (!caller || caller.role === 'admin') return;
    const id = after?.id ?? before?.id;
    const others = (await this.apps.list()).filter((a) => a.owner === caller.name && a.id !== id);
    const used = useOf(before ? [...others, before] : others);
    const requested = useOf(after ? [...others, after] : others);
    const limit = await this.limitOf(caller.name);
    const over = QUOTA_FIELDS.filter((f) => requested[f] > limit[f] && requested[f] > used[f]);
    if (over.length > 0) throw new QuotaExceeded(caller.name, used, requested, limit, over);
  }

  /**
   * A task of `memoryMb` for `owner` (issue 16: tasks count as an instance while they run), on top
   * of their started apps and the tasks of theirs that run now.
   */
  async checkTask(owner: Caller | undefined, memoryMb: number, running: (appIds: string[]) => Promise<{ count: number; memory_mb: number }>): Promise<void> {
    if (!owner || owner.role === 'admin') return;
    const apps = (await this.apps.list()).filter((a) => a.owner === owner.name);
    const tasks = await running(apps.map((a) => a.id));
    const base = useOf(apps);
    const used = { ...base, instances: base.instances + tasks.count, memory_mb: base.memory_mb + tasks.memory_mb };
    const requested = { ...used, instances: used.instances + 1, memory_mb: used.memory_mb + memoryMb };
    const limit = await this.limitOf(owner.name);
    const over = (['instances', 'memory_mb'] as const).filter((f) => requested[f] > limit[f]);
    if (over.length > 0) throw new QuotaExceeded(owner.name, used, requested, limit, over);
  }

  /** Runs a check-and-write under the caller's lock (admins need none). */
  async serialize<T>(caller: Caller | undefined, work: () => Promise<T>): Promise<T> {
    if (!caller || caller.role === 'admin') return work();
    const previous = this.locks.get(caller.name) ?? Promise.resolve();
    const mine = previous.catch(() => {}).then(work);
    this.locks.set(caller.name, mine);
    try {
      return await mine;
    } finally {
      if (this.locks.get(caller.name) === mine) this.locks.delete(caller.name);
    }
  }
}
