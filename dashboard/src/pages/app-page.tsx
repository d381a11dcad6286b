import type { AppView, InstanceView, ProcessView } from '@nap/common/api-views';
import { useState } from 'preact/hooks';
import { useAction } from '../action';
import { api, apiFetch } from '../api';
import { duration, megabytes } from '../format';
import { useLive } from '../live';
import { navigate } from '../router';
import { ErrorNote } from './error-note';
import { TableHead } from './table-head';
import { EnvPanel, EventsPanel, ReleasesPanel, RoutesPanel } from './app-config';
import { LogsView } from './logs-view';
import { SimilarPanel } from './similar-panel';

const path = (name: string) => `/v1/apps/${encodeURIComponent(name)}`;

/** One app: its instances live, scaling per process type, start, stop, restart and delete. */
export function AppPage({ name }: { name: string }) {
  const app = useLive(() => api<AppView>('GET', path(name)), 2000, `app:${name}`);
  const instances = useLive(() => api<InstanceView[]>('GET', `${path(name)}/instances`), 2000, `instances:${name}`);
  const action = useAction();
  const [busy, setBusy] = useState<string | null>(null);

  const act = async (label: string, run: () => Promise<unknown>) => {
    setBusy(label);
    await action.run(async () => (await run(), app.refresh(), instances.refresh()));
    setBusy(null);
  };

  const view = app.data;
  return (
    <section>
      <h1>{name}</h1>
      <ErrorNote error={app.error} />
      {view && (
        <>
          <p class="summary">
            <span class={`state ${view.state.toLowerCase()}`}>{view.state}</span> · {view.running_instances} of {view.instances} running ·{' '}
            {view.urls.map((url) => (
              <a key={url} href={url} rel="noreferrer noopener" target="_blank">
                {url.replace(/^https?:\/\//, '')}
              </a>
            ))}
          </p>
          {view.placement_error && <p class="warning">{view.placement_error}</p>}
          {view.staging?.error && <p class="warning">Staging failed: {view.staging.error}</p>}
          <div class="actions" role="group" aria-label="App actions">
            <button type="button" disabled={busy !== null} onClick={() => act('start', () => api('POST', `${path(name)}/start`))}>
              Start
            </button>
            <button type="button" disabled={busy !== null} onClick={() => act('stop', () => api('POST', `${path(name)}/stop`))}>
              Stop
            </button>
            <button type="button" disabled={busy !== null} onClick={() => act('restart', () => api('POST', `${path(name)}/restart`))}>
              Restart
            </button>
            <button
              type="button"
              class="danger"
              disabled={busy !== null}
              onClick={() => {
                if (!confirm(`Delete ${name}, its instances, routes and releases? This cannot be undone.`)) return;
                void act('delete', async () => {
                  await api('DELETE', path(name));
                  navigate('/');
                });
              }}
            >
              Delete
            </button>
            {busy && <span role="status">{busy === 'start' ? 'Starting (staging first if needed)…' : `${busy[0].toUpperCase()}${busy.slice(1)}…`}</span>}
          </div>
          <ErrorNote error={action.error} />
          <h2>Scale</h2>
          {view.processes
            .filter((p) => p.type === 'web' || p.command !== null)
            .map((p) => (
              <ScaleForm key={p.type} app={name} process={p} onScaled={() => (app.refresh(), instances.refresh())} />
            ))}
        </>
      )}
      <h2>Instances</h2>
      <ErrorNote error={instances.error} />
      {instances.data && <Instances list={instances.data} />}
      <h2>Logs</h2>
      <LogsView app={name} instances={instances.data ?? []} />
      {view?.staging && <StagingLog app={name} taskId={view.staging.task_id} />}
      {view && (
        <>
          <h2>Env</h2>
          <EnvPanel app={name} />
          <h2>Routes</h2>
          <RoutesPanel app={name} view={view} onChanged={app.refresh} />
          <h2>Releases</h2>
          <ReleasesPanel app={name} onChanged={() => (app.refresh(), instances.refresh())} />
          <h2>Events</h2>
          <EventsPanel app={name} />
          <h2>Similar app</h2>
          <SimilarPanel app={name} />
        </>
      )}
    </section>
  );
}

function ScaleForm({ app, process, onScaled }: { app: string; process: ProcessView; onScaled(): void }) {
  const [count, setCount] = useState(String(process.instances));
  const [memory, setMemory] = useState(`${process.memory}M`);
  const [asked, setAsked] = useState<number | null>(null);
  const action = useAction();
  const id = `scale-${process.type}`;
  const done = asked !== null && process.instances === asked && process.running_instances === asked;
  return (
    <form
      class="scale"
      aria-labelledby={`${id}-legend`}
      onSubmit={async (e) => {
        e.preventDefault();
        const instances = Number(count);
        if (await action.run(() => api('PUT', path(app), { processes: { [process.type]: { instances, memory: memory.trim() } } }))) {
          setAsked(instances);
          onScaled();
        }
      }}
    >
      <span id={`${id}-legend`} class="process-type">
        {process.type}
      </span>
      <label for={`${id}-instances`}>Instances</label>
      <input id={`${id}-instances`} type="number" min="0" max="1000" value={count} onInput={(e) => setCount(e.currentTarget.value)} required />
      <label for={`${id}-memory`}>Memory</label>
      <input id={`${id}-memory`} type="text" value={memory} onInput={(e) => setMemory(e.currentTarget.value)} pattern="[0-9]+[MmGg]?" title="megabytes, or with M or G: 256M, 1G" required />
      <button type="submit" disabled={action.busy}>
        Scale
      </button>
      <span role="status" class="progress">
        {asked === null ? '' : done ? `${asked} running` : `Scaling: ${process.running_instances} of ${asked} running…`}
      </span>
      <ErrorNote error={action.error} />
    </form>
  );
}

function Instances({ list }: { list: InstanceView[] }) {
  if (list.length === 0) return <p>No instance runs.</p>;
  return (
    <div class="table-wrap">
      <table class="instances">
        <TableHead columns={['Type', 'Index', 'State', 'Address', 'Uptime', 'Restarts', 'CPU', 'Memory', 'Last crash']} />
        <tbody>
          {list.map((i) => (
            <tr key={i.instance_id} data-state={i.state} data-instance={i.instance_id}>
              <td>{i.process_type}</td>
              <td>{i.index}</td>
              <td class={`state ${i.state.toLowerCase()}`}>{i.state}</td>
              <td>{i.host && i.port ? `${i.host}:${i.port}` : '—'}</td>
              <td>{duration(i.uptime_s)}</td>
              <td>{i.restarts}</td>
              <td>{i.cpu === null ? '—' : `${i.cpu.toFixed(1)} %`}</td>
              <td>{i.mem_bytes === null ? '—' : megabytes(Math.round(i.mem_bytes / (1024 * 1024)))}</td>
              <td>{i.exit_description ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The staging log of the latest push, read when opened (through the controller, as the logs are). */
function StagingLog({ app, taskId }: { app: string; taskId: string }) {
  const [text, setText] = useState<string | null>(null);
  return (
    <details
      class="staging-log"
      onToggle={async (e) => {
        if (!(e.currentTarget as HTMLDetailsElement).open) return;
        const res = await apiFetch(`${path(app)}/logs?file=staging&via=api`);
        setText(res.ok ? await res.text() : `No staging log (${res.status}).`);
      }}
    >
      <summary>Staging log of the latest push ({taskId.slice(0, 8)})</summary>
      <pre>{text ?? 'Loading…'}</pre>
    </details>
  );
}
