import { serviceEnvOf } from '../apps/service-env.js';
import { type Bus, channels, conflict, type msg, NoAnswerError, unavailable } from '@nap/common';
import { type AppRecord, dropletRun } from '../apps/app-record.js';
import type { DeaPool } from '../placement/dea-pool.js';
import { FDS_LIMIT } from '../placement/start-message.js';
import type { EventsRepository } from '../store/events-repository.js';
import type { TaskRecord, TasksRepository, TaskWithResult } from '../store/tasks-repository.js';
import type { QuotaGuard } from '../quotas/quota-guard.js';

/** Preparing a task is fetching and unpacking a droplet (or loading an image): allow for a big one. */
const TASK_START_TIMEOUT_MS = 120_000;
const DEAS_TRIED = 3;

export interface TaskLauncherDeps {
  tasks: TasksRepository;
  pool: DeaPool;
  bus: Bus;
  events: EventsRepository;
  /** Counts a started task (the controller's metrics). */
  started?: () => void;
  /** Tasks count against their app owner's quota while they run. */
  quota?: QuotaGuard;
}

/**
 * Starts a one-off task (the API's run-task and the cron scheduler's ticks): records it, asks a DEA
 * with room (another if one does not answer), and records what became of it. A task that could
 * not start is recorded FAILED with why; with no DEA at all, that is also thrown (503).
 */
export class TaskLauncher {
  constructor(private readonly deps: TaskLauncherDeps) {}

  async launch(app: AppRecord, fields: Pick<TaskRecord, 'command' | 'name' | 'memory_mb' | 'actor'>): Promise<TaskWithResult> {
    const { tasks, quota } = this.deps;
    if (!app.droplet) throw conflict('not_staged', `app ${app.name} has no droplet to run a task from: push it first (nap push ${app.name})`);
    const staged = { ...app, droplet: app.droplet };
    // The app's owner pays, whoever starts it (an admin, or cron).
    const owner = app.owner && app.owner !== 'admin' ? { name: app.owner, role: 'developer' as const } : undefined;
    if (!quota || !owner) return this.place(staged, await tasks.create(app.id, fields));
    return quota.serialize(owner, async () => {
      await quota.checkTask(owner, fields.memory_mb, (ids) => this.runningOf(ids));
      return this.place(staged, await tasks.create(app.id, fields));
    });
  }

  /** How many of these apps' tasks run now, and their memory. */
  private async runningOf(appIds: string[]): Promise<{ count: number; memory_mb: number }> {
    let count = 0;
    let memory = 0;
    for (const id of appIds) {
      for (const t of await this.deps.tasks.list(id)) {
        if (t.result === null && (t.state === 'RUNNING' || t.state === 'PENDING')) {
          count++;
          memory += t.memory_mb;
        }
      }
    }
    return { count, memory_mb: memory };
  }

  private async place(app: AppRecord & { droplet: NonNullable<AppRecord['droplet']> }, task: TaskRecord): Promise<TaskWithResult> {
    const { tasks, pool, bus, events } = this.deps;
    const memory = task.memory_mb;
    const tried: string[] = [];
    for (let attempt = 0; attempt < DEAS_TRIED; attempt++) {
      const dea = pool.pick(app.id, memory, app.stack, app.disk_mb);
      if (!dea || tried.includes(dea.id)) break;
      tried.push(dea.id);
      pool.reserve(dea.id, app.id, memory, app.disk_mb);
      const start: msg.TaskStart = {
        task_id: task.id,
        app_id: app.id,
        app_name: app.name,
        sequence: task.sequence,
        name: task.name,
        command: task.command,
        droplet_key: app.droplet.key,
        droplet_hash: app.droplet.hash,
        ...dropletRun(app.droplet),
        limits: { memory_mb: memory, disk_mb: app.disk_mb, fds: FDS_LIMIT },
        ...serviceEnvOf(app),
      };
      let reply: msg.TaskReply;
      try {
        reply = await bus.request(channels.deaTask(dea.id), start, TASK_START_TIMEOUT_MS);
      } catch (err) {
        if (err instanceof NoAnswerError) {
          pool.forget(dea.id);
          continue;
        }
        throw err;
      }
      if ('error' in reply) {
        const failed: TaskRecord = { ...task, state: 'FAILED', dea_id: dea.id, failure_reason: `could not start: ${reply.error}` };
        await tasks.save(app.id, failed);
        return { ...failed, result: null };
      }
      const running: TaskRecord = { ...task, state: 'RUNNING', dea_id: dea.id };
      await tasks.save(app.id, running);
      await events.record(app.id, 'task_started', task.actor, { sequence: task.sequence, name: task.name, memory_mb: memory });
      this.deps.started?.();
      return (await tasks.get(app.id, task.sequence)) ?? { ...running, result: null };
    }
    const why = pool.unavailable();
    const reason = `no DEA has room for the task (${memory} MB)${why.length > 0 ? `; not taking work: ${why.join('; ')}` : ''}`;
    await tasks.save(app.id, { ...task, state: 'FAILED', failure_reason: reason });
    throw unavailable(`${reason}: check nap deas, or run it with less memory (-m)`);
  }
}
