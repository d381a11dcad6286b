import type { AppView } from '@nap/common/api-views';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { onLinkClick } from '../router';
import { ErrorNote } from './error-note';

/** The seeds' "similar app": another app from this one's droplet, with a value for each {param} of its command. */
export function SimilarPanel({ app }: { app: string }) {
  const [params, setParams] = useState<string[] | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [name, setName] = useState('');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [made, setMade] = useState<AppView | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api<string[]>('GET', `/v1/apps/${encodeURIComponent(app)}/parameters`).then(setParams, (err) => setError(err as ApiError));
  }, [app]);
  if (params === null) return <ErrorNote error={error} />;
  if (params.length === 0) return <p>Its command has no {'{parameters}'}: there is nothing to ask for a similar app.</p>;
  return (
    <form
      class="stacked"
      aria-label="Similar app"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        try {
          setMade(await api<AppView>('POST', `/v1/apps/${encodeURIComponent(app)}/similar`, { ...(name.trim() ? { name: name.trim() } : {}), params: values }));
        } catch (err) {
          setError(err instanceof ApiError ? err : new ApiError(0, 'failed', String(err)));
        } finally {
          setBusy(false);
        }
      }}
    >
      {params.map((p) => (
        <div key={p} class="field">
          <label for={`param-${p}`}>{p}</label>
          <input id={`param-${p}`} value={values[p] ?? ''} onInput={(e) => setValues({ ...values, [p]: e.currentTarget.value })} required />
        </div>
      ))}
      <label for="similar-name">New app name</label>
      <input id="similar-name" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="(made from the values when empty)" />
      <button type="submit" disabled={busy}>
        Launch similar app
      </button>
      {busy && <span role="status">Launching…</span>}
      <ErrorNote error={error} />
      {made && (
        <p role="status">
          Started <a href={`/apps/${encodeURIComponent(made.name)}`} onClick={onLinkClick}>{made.name}</a>: {made.urls.join(', ')}
        </p>
      )}
    </form>
  );
}
