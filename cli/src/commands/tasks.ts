import type { TaskView } from '@nap/common/without-engines';
import type { ApiClient } from '../api-client.js';
import { type Output, table } from '../output.js';

/** nap run-task NAME "COMMAND": the app's droplet run once with this command, as Cloud Foundry's run-task. */
export async function runTask(api: ApiClient, out: Output, app: string, command: string, opts: { name?: string; memory?: string }): Promise<void> {
  const task = await api.call<TaskView>('POST', `/v1/apps/${app}/tasks`, { command, name: opts.name, memory: opts.memory });
  if (task.state === 'FAILED') {
    out.result(`Task ${task.sequence_id} (${task.name}) of ${app} failed: ${task.failure_reason ?? 'no reason given'}`, task);
    process.exitCode = 1;
    return;
  }
  out.result(
    `Task ${task.sequence_id} (${task.name}) of ${app} is running (${task.memory_mb} MB).\nnap tasks ${app} shows its state; nap logs ${app} --task ${task.sequence_id} its output.`,
    task,
  );
}

const duration = (s: number | null) => (s === null ? '-' : s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

export async function listTasks(api: ApiClient, out: Output, app: string): Promise<void> {
  const list = await api.call<TaskView[]>('GET', `/v1/apps/${app}/tasks`);
  out.result(
    list.length === 0
      ? `${app} has run no task yet: nap run-task ${app} "COMMAND"`
      : table(
          ['id', 'name', 'state', 'exit', 'duration', 'started', 'command'],
          list.map((t) => [t.sequence_id, t.name, t.state, t.exit_status ?? (t.failure_reason ? '-' : ''), duration(t.duration_s), t.created_at, t.command.length > 60 ? `${t.command.slice(0, 57)}...` : t.command]),
        ),
    list,
  );
}

export async function terminateTask(api: ApiClient, out: Output, app: string, sequence: string): Promise<void> {
  const task = await api.call<TaskView>('POST', `/v1/apps/${app}/tasks/${encodeURIComponent(sequence)}/cancel`);
  out.result(`Terminating task ${task.sequence_id} (${task.name}) of ${app}: nap tasks ${app} shows when it has ended`, task);
}

interface CronView {
  name: string;
  schedule: string;
  command: string;
  last_run: { tick: string; state: string; task_sequence: number | null; task_state: string | null } | null;
  next_run: string | null;
}

/** nap cron NAME: the manifest's cron entries with their last and next runs. */
export async function listCron(api: ApiClient, out: Output, app: string): Promise<void> {
  const list = await api.call<CronView[]>('GET', `/v1/apps/${app}/cron`);
  out.result(
    list.length === 0
      ? `${app} has no cron entries: add them to its manifest (cron: - schedule: "0 * * * *" command: …) and push`
      : table(
          ['name', 'schedule', 'last run', 'state', 'next run', 'command'],
          list.map((c) => [
            c.name,
            c.schedule,
            c.last_run ? `${c.last_run.tick}${c.last_run.task_sequence ? ` (task ${c.last_run.task_sequence})` : ''}` : '-',
            c.last_run ? (c.last_run.task_state ?? c.last_run.state) : '-',
            c.next_run ?? '- (app stopped)',
            c.command.length > 40 ? `${c.command.slice(0, 37)}...` : c.command,
          ]),
        ),
    list,
  );
}

interface DrainView {
  url: string;
  added_by: string;
  added_at: string;
}

/** nap add-drain / drains / remove-drain: where an app's lines go besides nap's own files. */
export async function addDrain(api: ApiClient, out: Output, app: string, url: string): Promise<void> {
  const list = await api.call<DrainView[]>('POST', `/v1/apps/${app}/drains`, { url });
  out.result(`${app}'s lines go to ${url} too (from the next few seconds on): nap drains ${app}`, list);
}

export async function listDrains(api: ApiClient, out: Output, app: string): Promise<void> {
  const list = await api.call<DrainView[]>('GET', `/v1/apps/${app}/drains`);
  out.result(list.length === 0 ? `${app} has no drains: nap add-drain ${app} syslog://HOST:PORT` : table(['url', 'added by', 'added'], list.map((d) => [d.url, d.added_by, d.added_at])), list);
}

export async function removeDrain(api: ApiClient, out: Output, app: string, url: string): Promise<void> {
  const list = await api.call<DrainView[]>('DELETE', `/v1/apps/${app}/drains?url=${encodeURIComponent(url)}`);
  out.result(`${app}'s lines no longer go to ${url}`, list);
}

/** nap enable-ssh / disable-ssh NAME. */
export async function setSsh(api: ApiClient, out: Output, app: string, enabled: boolean): Promise<void> {
  const updated = await api.call<{ ssh_enabled: boolean }>('PUT', `/v1/apps/${app}`, { ssh: enabled });
  out.result(enabled ? `nap ssh ${app} is allowed (to its owner and admins)` : `nap ssh ${app} is refused to everyone until nap enable-ssh ${app}`, updated);
}
