import { type Bus, channels, conflict, Megabytes, type msg, notFound, NoAnswerError, signedUrl, type TaskView, unavailable } from '@nap/common';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import { dropletRun } from '../apps/app-record.js';
import type { AppLifecycle } from '../apps/lifecycle.js';
import type { Caller } from '../auth/bearer.js';
import type { DeaPool } from '../placement/dea-pool.js';
import type { EventsRepository } from '../store/events-repository.js';
import type { TasksRepository, TaskWithResult } from '../store/tasks-repository.js';
import { appName } from './app-lookup.js';

const FDS_LIMIT = 16_384;
/** Preparing a task is fetching and unpacking a droplet (or loading an image): allow for a big one. */
const TASK_START_TIMEOUT_MS = 120_000;
const DEAS_TRIED = 3;

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
  pool: DeaPool;
  bus: Bus;
  events: EventsRepository;
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
  const { lifecycle, tasks, pool, bus, events } = deps;
  const router = Router();
  const json = express.json({ limit: '64kb' });

  async function withDeaCheck(t: TaskWithResult): Promise<TaskWithResult> {
    if (t.result || t.state !== 'RUNNING' || !t.dea_id || pool.get(t.dea_id)) return t;
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
    if (!app.droplet) throw conflict('not_staged', `app ${app.name} has no droplet to run a task from: push it first (nap push ${app.name})`);
    const memory = body.memory ?? app.memory_mb;
    const actor = actorOf(req.caller);
    const task = await tasks.create(app.id, { name: body.name ?? '', command: body.command, memory_mb: memory, actor });
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
        command: body.command,
        droplet_key: app.droplet.key,
        droplet_hash: app.droplet.hash,
        ...dropletRun(app.droplet),
        limits: { memory_mb: memory, disk_mb: app.disk_mb, fds: FDS_LIMIT },
        env: app.env,
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
        const failed = { ...task, state: 'FAILED' as const, dea_id: dea.id, failure_reason: `could not start: ${reply.error}` };
        await tasks.save(app.id, failed);
        res.status(202).json(presentTask({ ...failed, result: null }));
        return;
      }
      const running = { ...task, state: 'RUNNING' as const, dea_id: dea.id };
      await tasks.save(app.id, running);
      await events.record(app.id, 'task_started', actor, { sequence: task.sequence, name: task.name, memory_mb: memory });
      res.status(202).json(presentTask(await withDeaCheck((await tasks.get(app.id, task.sequence)) ?? { ...running, result: null })));
      return;
    }
    const why = pool.unavailable();
    const reason = `no DEA has room for the task (${memory} MB)${why.length > 0 ? `; not taking work: ${why.join('; ')}` : ''}`;
    await tasks.save(app.id, { ...task, state: 'FAILED', failure_reason: reason });
    throw unavailable(`${reason}: check nap deas, or run it with less memory (-m)`);
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

  return router;
}
