import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Backoff, type Etcd3, keys, type Logger, msg, retry } from '@nap/common';
import type { Instance } from '../instances/instance.js';
import { instanceEnv } from '../instances/instance-env.js';
import { type DropletSources, prepareRun } from '../instances/instance-files.js';
import { ContainerGone } from '../runtime/docker-runtime.js';
import type { Drains } from '../drains/drains.js';

const STOP_GRACE_S = 10;
/** How long a container's last output may take to reach the files once it exited. */
const LOG_DRAIN_MS = 2_000;

export interface TaskRunnerDeps extends DropletSources {
  deaId: string;
  host: string;
  /** `${deaDir}/tasks`: one directory per task (logs/, and `done` once it ended), served by the directory server. */
  tasksDir: string;
  logMaxBytes: number;
  etcd: Etcd3;
  log: Logger;
  /** Log drains: a task's lines go to its app's too. */
  drains?: Drains;
  /** The memory a running task holds on this DEA, counted in what it advertises. */
  reserve: (taskId: string, memoryMb: number) => void;
  release: (taskId: string) => void;
}

interface Running {
  containerId: string;
  cancelledBy: string | null;
}

/**
 * One-off tasks on this DEA (issue 16): the app's droplet, prepared as for an instance (runtimes
 * mounted, env, vcap, nap's network, the memory limit), run once with the task's command. The
 * outcome goes to etcd (keys.taskResult) and the container's labels are the only other state, so
 * a DEA that restarts finds its tasks again (adopt) and still records how they ended.
 */
export class TaskRunner {
  private readonly running = new Map<string, Running>();

  constructor(private readonly deps: TaskRunnerDeps) {}

  /** Resolves once the container runs; the rest (its end, its result) goes on in the background. */
  async start(t: msg.TaskStart): Promise<void> {
    if (this.running.has(t.task_id)) return;
    const dir = join(this.deps.tasksDir, t.task_id);
    const start = asInstanceStart(t);
    const inst: Instance = { start, state: 'STARTING', stateTimestamp: Date.now(), dir, port: null, containerId: null, startedAt: null, exitStatus: null, exitDescription: null };
    this.deps.reserve(t.task_id, t.limits.memory_mb);
    try {
      const runIn = await prepareRun(inst, this.deps);
      const env = instanceEnv(start, this.deps.host, 0);
      delete env.NAP_INSTANCE_ADDR;
      delete env.NAP_INSTANCE_PORT;
      const startedAt = new Date().toISOString();
      const started = await this.deps.runtime.start(
        {
          name: `nap-${t.app_name}-task-${t.sequence}-${t.task_id.slice(0, 8)}`,
          ...runIn({ ...env, NAP_TASK_NAME: t.name, NAP_TASK_SEQUENCE: String(t.sequence) }),
          memoryMb: t.limits.memory_mb,
          fds: t.limits.fds,
          labels: {
            'nap.kind': 'task',
            'nap.dea': this.deps.deaId,
            'nap.app_id': t.app_id,
            'nap.app_name': t.app_name,
            'nap.task_id': t.task_id,
            'nap.started_at': startedAt,
            'nap.memory_mb': String(t.limits.memory_mb),
          },
        },
        {
          stdout: join(dir, 'logs', 'stdout.log'),
          stderr: join(dir, 'logs', 'stderr.log'),
          maxBytes: this.deps.logMaxBytes,
          onOutput: this.deps.drains?.tap({ appId: t.app_id, appName: t.app_name, source: `task.${t.sequence}` }),
        },
      );
      this.running.set(t.task_id, { containerId: started.id, cancelledBy: null });
      this.deps.log.info({ app: t.app_name, task: t.sequence, task_id: t.task_id }, 'task running');
      void this.watch(t.task_id, started.id, startedAt, t.limits.memory_mb, started.logsCopied);
    } catch (err) {
      this.deps.release(t.task_id);
      await mkdir(dir, { recursive: true }).catch(() => {});
      await writeFile(join(dir, 'done'), '').catch(() => {});
      throw err;
    }
  }

  /** A cancel for a task of this DEA: stopped (SIGTERM, then SIGKILL), recorded FAILED with who cancelled it. */
  async cancel(c: msg.TaskCancel): Promise<void> {
    const run = this.running.get(c.task_id);
    if (!run || run.cancelledBy) return;
    run.cancelledBy = c.actor;
    await this.deps.runtime.stop(run.containerId, STOP_GRACE_S).catch(() => {});
  }

  /** Task containers of a previous run of this DEA: each is waited for again and its end recorded. */
  async adopt(): Promise<void> {
    for (const c of await this.deps.runtime.list({ 'nap.dea': this.deps.deaId, 'nap.kind': 'task' })) {
      const taskId = c.Labels['nap.task_id'];
      if (!taskId || this.running.has(taskId) || !msg.Uuid.safeParse(taskId).success) continue;
      const memoryMb = Number(c.Labels['nap.memory_mb']) || 0;
      this.deps.reserve(taskId, memoryMb);
      this.running.set(taskId, { containerId: c.Id, cancelledBy: null });
      this.deps.log.info({ task_id: taskId }, 'task of a previous run adopted');
      void this.watch(taskId, c.Id, c.Labels['nap.started_at'] ?? null, memoryMb, Promise.resolve());
    }
  }

  private async watch(taskId: string, containerId: string, startedAt: string | null, memoryMb: number, logsCopied: Promise<void>): Promise<void> {
    let result: Pick<msg.TaskResult, 'state' | 'exit_status' | 'failure_reason'>;
    try {
      const exit = await this.deps.runtime.wait(containerId);
      const cancelledBy = this.running.get(taskId)?.cancelledBy;
      if (cancelledBy) result = { state: 'FAILED', exit_status: exit.exitCode, failure_reason: `cancelled by ${cancelledBy}` };
      else if (exit.oomKilled) result = { state: 'FAILED', exit_status: exit.exitCode, failure_reason: `out of memory: the task used more than its ${memoryMb} MB and was killed` };
      else if (exit.exitCode === 0) result = { state: 'SUCCEEDED', exit_status: 0, failure_reason: null };
      else result = { state: 'FAILED', exit_status: exit.exitCode, failure_reason: `the task exited with status ${exit.exitCode}` };
    } catch (err) {
      result = { state: 'FAILED', exit_status: null, failure_reason: err instanceof ContainerGone ? 'the container disappeared' : `could not wait for the task: ${(err as Error).message}` };
    }
    await Promise.race([logsCopied.catch(() => {}), new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
    await this.deps.runtime.remove(containerId).catch(() => {});
    await writeFile(join(this.deps.tasksDir, taskId, 'done'), '').catch(() => {});
    const record: msg.TaskResult = { ...result, started_at: startedAt, finished_at: new Date().toISOString(), dea_id: this.deps.deaId };
    // The outcome must reach etcd, however long etcd is away: it is all the controller will know.
    await retry(async () => this.deps.etcd.put(keys.taskResult(taskId)).value(JSON.stringify(record)).exec(), {
      backoff: new Backoff({ minMs: 250, maxMs: 10_000 }),
      onFailure: (err) => this.deps.log.warn({ err: (err as Error).message, task_id: taskId }, 'could not record how a task ended; trying again'),
    }).catch(() => {});
    this.running.delete(taskId);
    this.deps.release(taskId);
    this.deps.log.info({ task_id: taskId, state: record.state, exit_status: record.exit_status }, 'task ended');
  }
}

/** A task as the instance code reads a start: its droplet, env and limits, no route, no health check. */
function asInstanceStart(t: msg.TaskStart): msg.DeaStart {
  return {
    app_id: t.app_id,
    app_name: t.app_name,
    version: 'task',
    index: 0,
    instance_id: t.task_id,
    droplet_key: t.droplet_key,
    droplet_hash: t.droplet_hash,
    droplet_type: t.droplet_type,
    stack_variant: t.stack_variant,
    image_id: t.image_id,
    limits: t.limits,
    env: t.env,
    vcap_services: t.vcap_services,
    uris: [],
    command: t.command,
    health_check: { type: 'process', timeout_s: 60 },
    process_type: 'task',
  };
}
