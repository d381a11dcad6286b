import type { InstanceView } from '@nap/common/api-views';
import { LineSplitter, type LogLine, parseLogText } from '@nap/common/log-lines';
import { useEffect, useRef, useState } from 'preact/hooks';
import { apiFetch } from '../api';

const RECENT_BYTES = 16 * 1024;
const KEPT_LINES = 2000;
const FILES = ['stdout', 'stderr'] as const;
const short = { stdout: 'out', stderr: 'err' } as const;

interface Source {
  key: string;
  instanceId: string;
  index: number;
  file: (typeof FILES)[number];
  label: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
  });

/**
 * The logs of every instance: the recent lines of each, then new ones as they are written, read
 * through the controller (`?via=api`: this page may call its own origin only) from the directory
 * server of each instance's node. Filter by instance and stream.
 */
export function LogsView({ app, instances }: { app: string; instances: InstanceView[] }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [instance, setInstance] = useState('all');
  const [stream, setStream] = useState('all');
  const followed = useRef(new Map<string, AbortController>());

  useEffect(() => () => followed.current.forEach((c) => c.abort()), []);

  useEffect(() => {
    const add = (more: LogLine[]) => {
      if (more.length === 0) return;
      setLines((now) => {
        const all = [...now, ...more];
        // Lines of several instances arrive interleaved; each carries the time the DEA wrote it.
        all.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
        return all.length > KEPT_LINES ? all.slice(all.length - KEPT_LINES) : all;
      });
    };
    const sources: Source[] = instances
      .filter((i) => i.state !== 'STOPPED')
      .flatMap((i) => FILES.map((file) => ({ key: `${i.instance_id}/${file}`, instanceId: i.instance_id, index: i.index, file, label: `${i.process_type === 'web' ? '' : `${i.process_type}.`}${i.index}/${short[file]}` })));
    for (const s of sources) {
      if (followed.current.has(s.key)) continue;
      const stop = new AbortController();
      followed.current.set(s.key, stop);
      void follow(app, s, stop.signal, add);
    }
  }, [app, instances]);

  const indexes = [...new Set(instances.map((i) => i.index))].sort((a, b) => a - b);
  const shown = lines.filter((l) => (instance === 'all' || l.source.split('/')[0].split('.').pop() === instance) && (stream === 'all' || l.source.endsWith(`/${stream}`)));
  return (
    <div class="logs">
      <div class="filters">
        <label for="logs-instance">Instance</label>
        <select id="logs-instance" value={instance} onChange={(e) => setInstance(e.currentTarget.value)}>
          <option value="all">All</option>
          {indexes.map((i) => (
            <option key={i} value={String(i)}>
              {i}
            </option>
          ))}
        </select>
        <label for="logs-stream">Stream</label>
        <select id="logs-stream" value={stream} onChange={(e) => setStream(e.currentTarget.value)}>
          <option value="all">Both</option>
          <option value="out">stdout</option>
          <option value="err">stderr</option>
        </select>
      </div>
      <pre class="log-lines" aria-label="Log lines" aria-live="polite" tabIndex={0}>
        {shown.length === 0
          ? 'No line yet.'
          : shown.map((l, i) => (
              <div key={i} class={l.source.endsWith('/err') ? 'err' : undefined}>
                <span class="when">{l.time.slice(11, 19)}</span> <span class="source">[{l.source}]</span> {l.text}
              </div>
            ))}
      </pre>
    </div>
  );
}

/** The recent lines of one source, then what is written after them, until `signal`; tried again after a break. */
async function follow(app: string, s: Source, signal: AbortSignal, add: (lines: LogLine[]) => void): Promise<void> {
  const base = `/v1/apps/${encodeURIComponent(app)}/logs?instance=${encodeURIComponent(s.instanceId)}&file=${s.file}&via=api`;
  let from: number | null = null;
  while (!signal.aborted) {
    try {
      if (from === null) {
        const res = await apiFetch(base, { headers: { Range: `bytes=-${RECENT_BYTES}` }, signal });
        if (res.status === 416) from = 0;
        else if (res.ok) {
          const text = await res.text();
          const range = /bytes (\d+)-(\d+)\/(\d+)/.exec(res.headers.get('content-range') ?? '');
          add(parseLogText(text, s.label, range !== null && Number(range[1]) > 0));
          from = range ? Number(range[3]) : new TextEncoder().encode(text).length;
        } else if (res.status === 404 || res.status === 403) {
          return; // the instance is gone, or the caller may not read it
        }
      }
      if (from !== null) {
        const res = await apiFetch(`${base}&tail=true`, { headers: { Range: `bytes=${from}-` }, signal });
        if (res.ok && res.body) {
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          const splitter = new LineSplitter();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            from += new TextEncoder().encode(value).length;
            add(splitter.push(value).flatMap((line) => parseLogText(line, s.label, false)));
          }
        } else if (res.status === 404 || res.status === 403) {
          return;
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    await sleep(2000, signal);
  }
}
