import { type Bus, channels, type Logger } from '@nap/common';
import type { ExecSessions } from '../ssh/exec-sessions.js';
import type { TaskRunner } from '../tasks/task-runner.js';

const MAX_ERROR_CHARS = 4000;

/** dea.<id>.task (answered once the task's container runs, or with why it cannot) and task.cancel. */
export function subscribeTasks(bus: Bus, deaId: string, tasks: TaskRunner, log: Logger, draining: () => boolean): void {
  const taskChannel = channels.deaTask(deaId);
  bus.subscribe(taskChannel, async (t, m) => {
    // Not answering sends the controller to another DEA.
    if (draining()) return;
    try {
      await tasks.start(t);
      bus.reply(taskChannel, m, { task_id: t.task_id, started: true });
    } catch (err) {
      const error = (err as Error).message || 'the task could not start';
      log.warn({ app: t.app_name, task_id: t.task_id, error }, 'task could not start');
      bus.reply(taskChannel, m, { task_id: t.task_id, error: error.length > MAX_ERROR_CHARS ? `${error.slice(0, MAX_ERROR_CHARS)}…` : error });
    }
  });
  bus.subscribe(channels.taskCancel, (c) => tasks.cancel(c));
}

/** dea.<id>.ssh: a session opened in one of this DEA's instances (or why not). */
export function subscribeSsh(bus: Bus, deaId: string, sessions: ExecSessions, log: Logger): void {
  const sshChannel = channels.deaSsh(deaId);
  bus.subscribe(sshChannel, async (o, m) => {
    try {
      await sessions.start(o);
      bus.reply(sshChannel, m, { session_id: o.session_id, opened: true });
    } catch (err) {
      const error = (err as Error).message || 'the session could not open';
      log.warn({ session: o.session_id, error }, 'ssh session refused');
      bus.reply(sshChannel, m, { session_id: o.session_id, error: error.slice(0, MAX_ERROR_CHARS) });
    }
  });
}
