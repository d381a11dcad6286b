import { Cron } from 'croner';

/**
 * Cron schedules of five fields (minute hour day-of-month month day-of-week), read in UTC with
 * croner. Seconds are not offered: a platform that starts a container per tick keeps to minutes.
 */
export function cronProblem(schedule: string): string | null {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) return `"${schedule.slice(0, 60)}" is not a cron schedule of five fields (minute hour day month weekday), e.g. "*/5 * * * *"`;
  try {
    new Cron(schedule, { timezone: 'UTC', paused: true });
    return null;
  } catch (err) {
    return `"${schedule.slice(0, 60)}" is not a valid cron schedule: ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

/** The first tick strictly after `after`, or null when the schedule has none (30 February). */
export function nextTick(schedule: string, after: Date): Date | null {
  return new Cron(schedule, { timezone: 'UTC', paused: true }).nextRun(after);
}

/** The ticks in (from, to], oldest first, at most `limit`. */
export function ticksBetween(schedule: string, from: Date, to: Date, limit = 60): Date[] {
  const cron = new Cron(schedule, { timezone: 'UTC', paused: true });
  const ticks: Date[] = [];
  let at = cron.nextRun(from);
  while (at && at.getTime() <= to.getTime() && ticks.length < limit) {
    ticks.push(at);
    at = cron.nextRun(at);
  }
  return ticks;
}
