import type { ApiClient } from '../api-client.js';
import type { InstanceView } from '@nap/common/without-engines';
import { followUrl } from '../follow.js';
import { formatLine, LineSplitter, type LogLine, mergeByTime, parseLogText } from '@nap/common/without-engines';
import type { Output } from '../output.js';

/** How much of the end of each log file `--recent` reads. */
const RECENT_BYTES = 64 * 1024;
const RECENT_LINES = 200;
const NEW_INSTANCE_POLL_MS = 1000;

export interface LogsOptions {
  instance?: number;
  follow: boolean;
  staging: boolean;
  /** A one-off task's output (its sequence number) instead of the instances'. */
  task?: number;
}

const streams = [
  { file: 'stdout', tag: 'out' },
  { file: 'stderr', tag: 'err' },
] as const;

interface Source {
  /** The API path that redirects to this log's signed URL (without &tail). */
  path: string;
  file: 'stdout' | 'stderr';
  label: string;
}

function sourcesOf(app: string, instances: InstanceView[], only?: number): Source[] {
  return instances
    .filter((i) => only === undefined || i.index === only)
    .flatMap((i) =>
      streams.map((s) => ({
        path: `/v1/apps/${app}/logs?instance=${i.instance_id}&file=${s.file}`,
        file: s.file,
        label: `${i.process_type && i.process_type !== 'web' ? `${i.process_type}.` : ''}${i.index}/${s.tag}`,
      })),
    );
}

function taskSources(app: string, sequence: number): Source[] {
  return streams.map((s) => ({ path: `/v1/apps/${app}/tasks/${sequence}/logs?file=${s.file}`, file: s.file, label: `task.${sequence}/${s.tag}` }));
}

async function signedLogUrl(api: ApiClient, source: Source, tail: boolean): Promise<string> {
  return api.redirectTarget(`${source.path}${tail ? '&tail=true' : ''}`);
}

/** The last lines of one log, and where the file ended, so following can start right there. */
async function recentOf(api: ApiClient, source: Source): Promise<{ lines: LogLine[]; end: number }> {
  const res = await api.fetch(await signedLogUrl(api, source, false), { headers: { Range: `bytes=-${RECENT_BYTES}` } });
  if (res.status === 416) return { lines: [], end: 0 };
  if (!res.ok) return { lines: [], end: 0 };
  const text = await res.text();
  const range = /bytes (\d+)-(\d+)\/(\d+)/.exec(res.headers.get('content-range') ?? '');
  const start = range ? Number(range[1]) : 0;
  const end = range ? Number(range[3]) : Buffer.byteLength(text);
  return { lines: parseLogText(text, source.label, start > 0), end };
}

/** The last `count` lines of some instances' output, merged by time and formatted (for a push whose instances crashed). */
export async function lastLines(api: ApiClient, app: string, instances: InstanceView[], count: number): Promise<string[]> {
  const recent = await Promise.all(sourcesOf(app, instances).map((s) => recentOf(api, s).catch(() => ({ lines: [], end: 0 }))));
  return mergeByTime(recent.map((r) => r.lines)).slice(-count).map(formatLine);
}

/** nap logs: recent lines of every instance, merged by time; with --follow, then what comes, from new instances too. */
export async function logs(api: ApiClient, out: Output, app: string, opts: LogsOptions): Promise<void> {
  if (opts.staging) {
    const url = await api.redirectTarget(`/v1/apps/${app}/logs?file=staging${opts.follow ? '&tail=true' : ''}`);
    await followUrl(api.fetch, url, (text) => process.stdout.write(text), new AbortController().signal);
    return;
  }
  const sources = opts.task !== undefined ? taskSources(app, opts.task) : sourcesOf(app, await api.call<InstanceView[]>('GET', `/v1/apps/${app}/instances`), opts.instance);
  const recent = await Promise.all(sources.map((s) => recentOf(api, s)));
  const merged = mergeByTime(recent.map((r) => r.lines)).slice(-RECENT_LINES);
  if (out.json && !opts.follow) {
    out.result('', merged);
    return;
  }
  for (const line of merged) process.stdout.write(`${formatLine(line)}\n`);
  if (!opts.follow) {
    if (sources.length === 0 && opts.task === undefined) out.progress(`${app} has no instances${opts.instance !== undefined ? ` at index ${opts.instance}` : ''}`);
    return;
  }

  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  const followed = new Set<string>();
  const follow = (source: Source, from: number) => {
    const key = source.path;
    if (followed.has(key)) return;
    followed.add(key);
    const lines = new LineSplitter();
    return (async () => {
      const url = await signedLogUrl(api, source, true).catch(() => null);
      // A log not there yet (the instance is still starting) is tried again on the next round.
      if (!url) return followed.delete(key);
      const followedOk = await followUrl(
        api.fetch,
        url,
        (text) => {
          for (const l of lines.push(text)) for (const parsed of parseLogText(l, source.label, false)) process.stdout.write(`${out.json ? JSON.stringify(parsed) : formatLine(parsed)}\n`);
        },
        stop.signal,
        { Range: `bytes=${from}-` },
      );
      if (!followedOk) followed.delete(key);
    })();
  };
  const following = sources.map((s, i) => follow(s, recent[i].end));
  // A task's logs end with it (the directory server ends the follow once the task is done).
  if (opts.task !== undefined) {
    await Promise.all(following);
    return;
  }
  // New instances (scaling, a crash's replacement) are followed from their first line.
  while (!stop.signal.aborted && opts.task === undefined) {
    await new Promise((r) => setTimeout(r, NEW_INSTANCE_POLL_MS));
    const now = await api.call<InstanceView[]>('GET', `/v1/apps/${app}/instances`).catch(() => []);
    for (const s of sourcesOf(app, now, opts.instance)) void follow(s, 0);
  }
}
