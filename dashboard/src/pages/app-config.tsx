import type { AppEventView, AppView, ReleaseView } from '@nap/common/api-views';
import { useState } from 'preact/hooks';
import { useAction } from '../action';
import { api } from '../api';
import { ago } from '../format';
import { useLive } from '../live';
import { ErrorNote } from './error-note';
import { TableHead } from './table-head';

const path = (name: string) => `/v1/apps/${encodeURIComponent(name)}`;

/** The app's own env: each variable changed or removed in place, and new ones added (the API restarts what runs). */
export function EnvPanel({ app }: { app: string }) {
  const env = useLive(() => api<Record<string, string>>('GET', `${path(app)}/env`), 10_000, `env:${app}`);
  const action = useAction();
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const change = (changes: Record<string, string | null>) => action.run(async () => (await api('PUT', `${path(app)}/env`, changes), env.refresh()));
  return (
    <div class="env">
      <ErrorNote error={env.error ?? action.error} />
      {env.data && Object.keys(env.data).length === 0 && <p>No variable of its own.</p>}
      {env.data && Object.keys(env.data).length > 0 && (
        <div class="table-wrap"><table>
          <TableHead columns={['Name', 'Value', '']} />
          <tbody>
            {Object.entries(env.data).map(([k, v]) => (
              <EnvRow key={`${k}=${v}`} name={k} value={v} onSave={(nv) => change({ [k]: nv })} onRemove={() => change({ [k]: null })} />
            ))}
          </tbody>
        </table></div>
      )}
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await change({ [name.trim()]: value })) {
            setName('');
            setValue('');
          }
        }}
      >
        <label for="env-name">Name</label>
        <input id="env-name" value={name} onInput={(e) => setName(e.currentTarget.value)} pattern="[A-Za-z_][A-Za-z0-9_]*" title="letters, digits and _, not starting with a digit" required />
        <label for="env-value">Value</label>
        <input id="env-value" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        <button type="submit">Add variable</button>
      </form>
    </div>
  );
}

function EnvRow({ name, value, onSave, onRemove }: { name: string; value: string; onSave(v: string): Promise<boolean>; onRemove(): Promise<boolean> }) {
  const [draft, setDraft] = useState(value);
  return (
    <tr>
      <th scope="row">{name}</th>
      <td>
        <input aria-label={`Value of ${name}`} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
      </td>
      <td class="row-actions">
        <button type="button" disabled={draft === value} onClick={() => onSave(draft)}>
          Save {name}
        </button>
        <button type="button" class="danger" onClick={() => confirm(`Remove ${name}?`) && onRemove()}>
          Remove {name}
        </button>
      </td>
    </tr>
  );
}

/** The hosts that route to the app: one mapped (claimed, as the API allows) or unmapped at a time. */
export function RoutesPanel({ app, view, onChanged }: { app: string; view: AppView; onChanged(): void }) {
  const [host, setHost] = useState('');
  const action = useAction();
  const put = (routes: string[]) => action.run(async () => (await api('PUT', path(app), { routes }), onChanged()));
  return (
    <div class="routes-panel">
      <ul>
        {view.routes.map((r) => (
          <li key={r}>
            {r}{' '}
            <button type="button" onClick={() => put(view.routes.filter((x) => x !== r))}>
              Unmap {r}
            </button>
          </li>
        ))}
      </ul>
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          const wanted = host.trim().toLowerCase();
          if (await put([...new Set([...view.routes, wanted])])) setHost('');
        }}
      >
        <label for="route-host">Host</label>
        <input id="route-host" value={host} onInput={(e) => setHost(e.currentTarget.value)} placeholder={`another.${view.urls[0]?.replace(/^https?:\/\/[^.]+\./, '') ?? 'example.com'}`} required />
        <button type="submit" disabled={action.busy}>
          Map route
        </button>
      </form>
      <ErrorNote error={action.error} />
    </div>
  );
}

/** Releases, newest first (the first is what runs), each older one with a Rollback (its code and configuration, as a new release). */
export function ReleasesPanel({ app, onChanged }: { app: string; onChanged(): void }) {
  const releases = useLive(() => api<ReleaseView[]>('GET', `${path(app)}/releases`), 5000, `releases:${app}`);
  const action = useAction();
  const [rolling, setRolling] = useState<number | null>(null);
  return (
    <div>
      <ErrorNote error={releases.error ?? action.error} />
      {releases.data?.length === 0 && <p>No release yet.</p>}
      {releases.data && releases.data.length > 0 && (
        <div class="table-wrap"><table class="releases">
          <TableHead columns={['Release', 'When', 'By', 'What', '']} />
          <tbody>
            {releases.data.map((r, i) => (
              <tr key={r.version} data-release={r.version}>
                <th scope="row">v{r.version}</th>
                <td>{ago(r.created_at)} ago</td>
                <td>{r.actor}</td>
                <td>{r.description}</td>
                <td>
                  {i === 0 ? (
                    <span>current</span>
                  ) : (
                    <button
                      type="button"
                      disabled={action.busy}
                      aria-label={`Rollback to v${r.version}`}
                      onClick={async () => {
                        setRolling(r.version);
                        await action.run(async () => (await api('POST', `${path(app)}/rollback`, { version: r.version }), releases.refresh(), onChanged()));
                        setRolling(null);
                      }}
                    >
                      Rollback
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table></div>
      )}
      {rolling !== null && <p role="status">Rolling back to v{rolling}…</p>}
    </div>
  );
}

const describe = (detail: Record<string, unknown>) =>
  Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');

/** The app's history, newest first. */
export function EventsPanel({ app }: { app: string }) {
  const events = useLive(() => api<AppEventView[]>('GET', `${path(app)}/events`), 5000, `events:${app}`);
  return (
    <div>
      <ErrorNote error={events.error} />
      {events.data?.length === 0 && <p>No event yet.</p>}
      {events.data && events.data.length > 0 && (
        <ol class="events">
          {events.data.slice(0, 50).map((e, i) => (
            <li key={i}>
              <time dateTime={e.time}>{ago(e.time)} ago</time> <strong>{e.type}</strong> by {e.actor}
              {Object.keys(e.detail).length > 0 && <span class="detail"> — {describe(e.detail)}</span>}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
