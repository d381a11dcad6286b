import { type Logger, RepeatedFailureLog } from '@nap/common';
import type { AppRecord } from '../apps/app-record.js';
import { ticksBetween } from '../apps/cron-schedule.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { CronRunsRepository } from '../store/cron-runs-repository.js';
import type { EventsRepository } from '../store/events-repository.js';
import type { TaskLauncher } from './task-launcher.js';

/** How often the elected controller looks for due ticks. */
const PASS_MS = 5_000;
/** A tick is run this long after it came at most; later it is reported missed instead. */
const CATCH_UP_MS = 50_000;
/** How far back a new leader looks for ticks nobody ran. */
const LOOKBACK_MS = 60 * 60_000;
/** A tick claimed this long ago whose task never started: its controller died in between. */
const CLAIM_ABANDONED_MS = 60_000;

type Entry = NonNullable<AppRecord['cron']>[number];
const PASS_FAILED = 'cron pass failed';

/**
 * Runs the manifests' `cron:` entries as tasks (issue 16). Only the elected controller schedules
 * (the health manager starts and stops this with its leadership), and each tick is claimed once in
 * etcd before its task starts, so a tick runs once across the platform, also across a fail-over.
 * A tick nobody ran within CATCH_UP_MS (no controller was leading) is reported as an event.
 */
export class CronScheduler {
  private timer: NodeJS.Timeout | null = null;
  private passing = false;
  private readonly failures: RepeatedFailureLog;

  constructor(
    private readonly deps: { apps: AppsRepository; runs: CronRunsRepository; launcher: TaskLauncher; events: EventsRepository; log: Logger },
  ) {
    this.failures = new RepeatedFailureLog(deps.log);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.pass(), PASS_MS);
    this.timer.unref();
    void this.pass();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async pass(now = new Date()): Promise<void> {
    if (this.passing) return;
    this.passing = true;
    try {
      for (const app of await this.deps.apps.list()) {
        if (!app.cron?.length || app.state !== 'STARTED' || !app.droplet) continue;
        for (const entry of app.cron) await this.entry(app, entry, now);
      }
      this.failures.recovered(PASS_FAILED, 'cron passes work again');
    } catch (err) {
      this.failures.failed(PASS_FAILED, err);
    } finally {
      this.passing = false;
    }
  }

  private async entry(app: AppRecord, entry: Entry, now: Date): Promise<void> {
    const { runs, events, log } = this.deps;
    const latest = await runs.latest(app.id, entry.name);
    if (latest?.state === 'claimed' && now.getTime() - Date.parse(latest.at) > CLAIM_ABANDONED_MS) {
      await runs.settle(app.id, entry.name, new Date(latest.tick), { state: 'missed', task_sequence: null });
      await events.record(app.id, 'cron_missed', 'system', { entry: entry.name, tick: latest.tick, why: 'the controller that took the tick stopped before its task started' });
    }
    // Ticks before the entry's first run are nobody's miss; after it, every tick is run or reported.
    const from = latest ? Math.max(Date.parse(latest.tick), now.getTime() - LOOKBACK_MS) : now.getTime() - CATCH_UP_MS;
    for (const tick of ticksBetween(entry.schedule, new Date(from), now)) {
      if (now.getTime() - tick.getTime() > CATCH_UP_MS) {
        if (await runs.claim(app.id, entry.name, tick, 'missed')) {
          await events.record(app.id, 'cron_missed', 'system', { entry: entry.name, tick: tick.toISOString(), why: 'no controller was leading at that time' });
        }
        continue;
      }
      if (!(await runs.claim(app.id, entry.name, tick, 'claimed'))) continue;
      let sequence: number | null = null;
      try {
        const task = await this.deps.launcher.launch(app, { command: entry.command, name: `${entry.name}.${tickName(tick)}`, memory_mb: app.memory_mb, actor: 'cron' });
        sequence = task.sequence;
      } catch (err) {
        log.warn({ err: (err as Error).message, app: app.name, entry: entry.name }, 'a cron task could not start');
      }
      await runs.settle(app.id, entry.name, tick, { state: 'started', task_sequence: sequence });
    }
  }
}

/** 2026-12-07T02:15 → 202612070215: the tick in a task's name. */
export function tickName(tick: Date): string {
  return tick.toISOString().slice(0, 16).replace(/[-T:]/g, '');
}
