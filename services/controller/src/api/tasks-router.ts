import { type Bus, channels, conflict, Megabytes, type msg, notFound, signedUrl, type TaskView, unavailable } from '@nap/common';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import type { AppLifecycle } from '../apps/lifecycle.js';
import type { Caller } from '../auth/bearer.js';
import type { DeaPool } from '../placement/dea-pool.js';
import type { TasksRepository, TaskWithResult } from '../store/tasks-repository.js';
import type { TaskLauncher } from '../tasks/task-launcher.js';
import { nextTick } from '../apps/cron-schedule.js';
import type { CronRunsRepository } from '../store/cron-runs-repository.js';
import { appName } from './app-lookup.js';


export const TaskCreate = z
  .object({
    command: z.string().min(1, 'a task needs a command').max(16 * 1024),
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a task name is letters, digits, ., - and _ (at most 64)').optional(),
    memory: Megabytes.pipe(z.number().max(65536, 'at most 64G')).optional(),
  })
  .strict();

export interface TasksDeps {
  lifecycle: AppLifecycle;
  tasks: TasksRepository;
  launcher: TaskLauncher;
  cronRuns: CronRunsRepository;
  pool: DeaPool;
  /** Whether a DEA's leased record is in etcd: the pool in memory is empty for seconds after a controller starts. */
  deaAlive: (deaId: string) => Promise<boolean>;
  bus: Bus;
  directorySecret: string;
}

const actorOf = (caller: Caller | undefined) => caller?.name ?? 'admin';

/** Where a task's output is read: a signed directory URL of the DEA that ran it. */
export function taskLogUrl(task: TaskWithResult, pool: DeaPool, secret: string, file: 'stdout' | 'stderr', tail: boolean): string | null {
  const deaId = task.result?.dea_id ?? task.dea_id;
  const dea = deaId ? pool.get(deaId) : undefined;
  if (!dea) return null;
  return signedUrl(secret, dea.directory_url, { kind: 'task', taskId: task.id }, `logs/${file}.log`, { tail });
}

export function presentTask(t: TaskWithResult, now = Date.now()): TaskView {
  const state = t.result?.state ?? t.state;
  const startedAt = Date.parse(t.result?.started_at ?? t.created_at);
  const end = t.result ? Date.parse(t.result.finished_at) : state === 'FAILED' ? null : now;
  return {
    sequence_id: t.sequence,
    name: t.name,
    command: t.command,
    state,
    exit_status: t.result?.exit_status ?? null,
    failure_reason: t.result?.failure_reason ?? t.failure_reason,
    memory_mb: t.memory_mb,
    dea_id: t.result?.dea_id ?? t.dea_id,
    actor: t.actor,
    created_at: t.created_at,
    finished_at: t.result?.finished_at ?? null,
    duration_s: end === null ? null : Math.max(0, Math.round((end - startedAt) / 100) / 10),
  };
}

/**
 * One-off tasks (issue 16; Cloud Foundry's run-task, Heroku's run --detach): the app's current
 * droplet run once, with its env, on a DEA with room. The DEA records how it ended; a RUNNING task
 * whose DEA is gone is FAILED when it is next read.
 */
export function tasksRouter(deps: TasksDeps): Router {
  const { lifecycle, tasks, launcher, cronRuns, pool, bus } = deps;
  const router = Router();
  const json = express.json({ limit: '64kb' });

  async function withDeaCheck(t: TaskWithResult): Promise<TaskWithResult> {
    if (t.result || t.state !== 'RUNNING' || !t.dea_id || pool.get(t.dea_id) || (await deps.deaAlive(t.dea_id))) return t;
    // Its DEA no longer advertises: nothing will ever record this task's end.
    const result: msg.TaskResult = { state: 'FAILED', exit_status: null, failure_reason: `the DEA running it (${t.dea_id}) was lost`, started_at: null, finished_at: new Date().toISOString(), dea_id: t.dea_id };
    await tasks.finish(t, result);
    return { ...t, result };
  }

  async function taskOf(req: Request): Promise<{ appId: string; task: TaskWithResult }> {
    const app = await lifecycle.load(appName(req), req.caller);
    const sequence = Number(req.params.sequence);
    const task = Number.isInteger(sequence) && sequence > 0 ? await tasks.get(app.id, sequence) : null;
    if (!task) throw notFound('task_not_found', `app ${app.name} has no task ${req.params.sequence}: see nap tasks ${app.name}`);
    return { appId: app.id, task: await withDeaCheck(task) };
  }

  router.post('/v1/apps/:name/tasks', json, async (req, res) => {
    const body = TaskCreate.parse(req.body ?? {});
    const app = await lifecycle.load(appName(req), req.caller);
    const task = await launcher.launch(app, { command: body.command, name: body.name ?? '', memory_mb: body.memory ?? app.memory_mb, actor: actorOf(req.caller) });
    res.status(202).json(presentTask(await withDeaCheck(task)));
  });

  router.get('/v1/apps/:name/tasks', async (req, res) => {
    const app = await lifecycle.load(appName(req), req.caller);
    res.json(await Promise.all((await tasks.list(app.id)).map(async (t) => presentTask(await withDeaCheck(t)))));
  });

  router.get('/v1/apps/:name/tasks/:sequence', async (req, res) => {
    res.json(presentTask((await taskOf(req)).task));
  });

  router.post('/v1/apps/:name/tasks/:sequence/cancel', async (req, res) => {
    const { task } = await taskOf(req);
    if (task.result || task.state !== 'RUNNING') throw conflict('task_not_running', `task ${task.sequence} is not running (${task.result?.state ?? task.state})`);
    bus.publish(channels.taskCancel, { task_id: task.id, actor: actorOf(req.caller) });
    res.status(202).json(presentTask(task));
  });

  /** A task's output: 302 to its DEA's directory server (signed), as for an instance's logs. */
  router.get('/v1/apps/:name/tasks/:sequence/logs', async (req, res) => {
    const { task } = await taskOf(req);
    const file = req.query.file === 'stderr' ? 'stderr' : 'stdout';
    const url = taskLogUrl(task, pool, deps.directorySecret, file, req.query.tail === 'true');
    if (!url) throw unavailable(`the DEA that ran task ${task.sequence} is not reachable now: its output is on that node`);
    res.redirect(302, url);
  });

  /** The app's cron entries with their last run (and its task's state) and their next tick. */
  router.get('/v1/apps/:name/cron', async (req, res) => {
    const app = await lifecycle.load(appName(req), req.caller);
    const now = new Date();
    res.json(
      await Promise.all(
        (app.cron ?? []).map(async (e) => {
          const last = await cronRuns.latest(app.id, e.name);
          const task = last?.task_sequence ? await tasks.get(app.id, last.task_sequence) : null;
          return {
            name: e.name,
            schedule: e.schedule,
            command: e.command,
            last_run: last ? { tick: last.tick, state: last.state, task_sequence: last.task_sequence, task_state: task ? presentTask(task).state : null } : null,
            next_run: app.state === 'STARTED' ? (nextTick(e.schedule, now)?.toISOString() ?? null) : null,
          };
        }),
      ),
    );
  });

  return router;
}
