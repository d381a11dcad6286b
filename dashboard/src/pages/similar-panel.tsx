import type { AppView } from '@nap/common/api-views';
import { useEffect, useState } from 'preact/hooks';
import { asApiError, useAction } from '../action';
import { api, type ApiError } from '../api';
import { onLinkClick } from '../router';
import { ErrorNote } from './error-note';

/** The seeds' "similar app": another app from this one's droplet, with a value for each {param} of its command. */
export function SimilarPanel({ app }: { app: string }) {
  const [params, setParams] = useState<string[] | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [name, setName] = useState('');
  const [loadError, setLoadError] = useState<ApiError | undefined>(undefined);
  const [made, setMade] = useState<AppView | null>(null);
  const action = useAction();
  useEffect(() => {
    api<string[]>('GET', `/v1/apps/${encodeURIComponent(app)}/parameters`).then(setParams, (err) => setLoadError(asApiError(err)));
  }, [app]);
  if (params === null) return <ErrorNote error={loadError} />;
  if (params.length === 0) return <p>Its command has no {'{parameters}'}: there is nothing to ask for a similar app.</p>;
  return (
    <form
      class="stacked"
      aria-label="Similar app"
      onSubmit={async (e) => {
        e.preventDefault();
        await action.run(async () => setMade(await api<AppView>('POST', `/v1/apps/${encodeURIComponent(app)}/similar`, { ...(name.trim() ? { name: name.trim() } : {}), params: values })));
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
      <button type="submit" disabled={action.busy}>
        Launch similar app
      </button>
      {action.busy && <span role="status">Launching…</span>}
      <ErrorNote error={action.error} />
      {made && (
        <p role="status">
          Started <a href={`/apps/${encodeURIComponent(made.name)}`} onClick={onLinkClick}>{made.name}</a>: {made.urls.join(', ')}
        </p>
      )}
    </form>
  );
}
