import { randomUUID } from 'node:crypto';
import { type Etcd3, keys, msg, readPrefix } from '@nap/common';
import { z } from 'zod';

/** Tasks kept per app: the oldest finished ones go, so a cron every minute cannot grow etcd without end. */
export const TASKS_KEPT = 100;

export const TaskRecord = z.object({
  id: z.string().uuid(),
  sequence: z.number().int().positive(),
  name: z.string(),
  command: z.string(),
  memory_mb: z.number().int().positive(),
  state: z.enum(['PENDING', 'RUNNING', 'FAILED']),
  dea_id: z.string().nullable(),
  failure_reason: z.string().nullable(),
  actor: z.string(),
  created_at: z.string(),
});
export type TaskRecord = z.infer<typeof TaskRecord>;

/** A task with its outcome, when its DEA has written one. */
export type TaskWithResult = TaskRecord & { result: msg.TaskResult | null };

/**
 * An app's one-off tasks in etcd, numbered 1, 2, … per app (Cloud Foundry's sequence ids). The
 * controller writes the record; the DEA that ran the task writes its outcome under its own key
 * (keys.taskResult), so neither overwrites the other.
 */
export class TasksRepository {
  constructor(private readonly etcd: Etcd3) {}

  /** A new PENDING task with the next free number (a transaction that requires it still free). */
  async create(appId: string, fields: Pick<TaskRecord, 'name' | 'command' | 'memory_mb' | 'actor'>): Promise<TaskRecord> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const [latest] = await this.etcd.getAll().prefix(keys.tasks(appId)).sort('Key', 'Descend').limit(1).keys();
      const sequence = latest ? Number(latest.slice(keys.tasks(appId).length)) + 1 : 1;
      const task: TaskRecord = {
        id: randomUUID(),
        sequence,
        ...fields,
        name: fields.name || `task-${sequence}`,
        state: 'PENDING',
        dea_id: null,
        failure_reason: null,
        created_at: new Date().toISOString(),
      };
      const key = keys.task(appId, sequence);
      const written = await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(task))).commit();
      if (written.succeeded) {
        await this.trim(appId);
        return task;
      }
    }
    throw new Error('could not number the task: too many tasks created at once; try again');
  }

  async save(appId: string, task: TaskRecord): Promise<void> {
    await this.etcd.put(keys.task(appId, task.sequence)).value(JSON.stringify(task));
  }

  /** Newest first, each with its outcome. */
  async list(appId: string): Promise<TaskWithResult[]> {
    const records = Object.values(await readPrefix(this.etcd, keys.tasks(appId)))
      .map((raw) => TaskRecord.safeParse(JSON.parse(raw)))
      .flatMap((r) => (r.success ? [r.data] : []))
      .sort((a, b) => b.sequence - a.sequence);
    return Promise.all(records.map(async (t) => ({ ...t, result: await this.result(t.id) })));
  }

  async get(appId: string, sequence: number): Promise<TaskWithResult | null> {
    const raw = await this.etcd.get(keys.task(appId, sequence)).string();
    if (raw === null) return null;
    const parsed = TaskRecord.safeParse(JSON.parse(raw));
    return parsed.success ? { ...parsed.data, result: await this.result(parsed.data.id) } : null;
  }

  /** Written when no DEA will: the DEA that ran the task is gone, or none took it. */
  async finish(task: TaskRecord, result: msg.TaskResult): Promise<void> {
    await this.etcd.if(keys.taskResult(task.id), 'Create', '==', 0).then(this.etcd.put(keys.taskResult(task.id)).value(JSON.stringify(result))).commit();
  }

  async deleteAll(appId: string): Promise<void> {
    for (const t of await this.list(appId)) await this.etcd.delete().key(keys.taskResult(t.id));
    await this.etcd.delete().prefix(keys.tasks(appId));
  }

  private async result(taskId: string): Promise<msg.TaskResult | null> {
    const raw = await this.etcd.get(keys.taskResult(taskId)).string();
    if (raw === null) return null;
    const parsed = msg.TaskResult.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  }

  private async trim(appId: string): Promise<void> {
    const all = await this.list(appId);
    for (const old of all.slice(TASKS_KEPT).filter((t) => t.result !== null)) {
      await this.etcd.delete().key(keys.task(appId, old.sequence));
      await this.etcd.delete().key(keys.taskResult(old.id));
    }
  }
}
