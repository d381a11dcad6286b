import type { AppView } from '@nap/common/api-views';
import { useState } from 'preact/hooks';
import { asApiError } from '../action';
import { api, ApiError, apiFetch } from '../api';
import { onLinkClick } from '../router';
import { ErrorNote } from './error-note';

const path = (name: string) => `/v1/apps/${encodeURIComponent(name)}`;

/**
 * The seeds' "deploy from git": the controller clones the repository and deploys its tree (the app
 * is made if it is new); the staging log shows as it is written, until the app runs.
 */
export function DeployPage() {
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [ref, setRef] = useState('');
  const [log, setLog] = useState('');
  const [state, setState] = useState<'idle' | 'deploying' | 'done'>('idle');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [deployed, setDeployed] = useState<AppView | null>(null);

  const deploy = async () => {
    const app = name.trim();
    setState('deploying');
    setError(undefined);
    setLog('');
    setDeployed(null);
    const stop = new AbortController();
    try {
      const before = await api<AppView>('GET', path(app)).catch(async (err) => {
        if (err instanceof ApiError && err.status === 404) return api<AppView>('PUT', path(app), {});
        throw err;
      });
      const following = followStaging(app, before.staging?.task_id ?? null, stop.signal, (text) => setLog((l) => l + text));
      const done = await api<AppView>('POST', `${path(app)}/deploy`, { git_url: url.trim(), ...(ref.trim() ? { ref: ref.trim() } : {}) });
      setDeployed(done);
      setState('done');
      // The log's last lines arrive just after the answer: give them a moment before the stream stops.
      setTimeout(() => stop.abort(), 3000);
      await following;
    } catch (err) {
      stop.abort();
      setError(asApiError(err));
      setState('idle');
    }
  };

  return (
    <section>
      <h1>Deploy from git</h1>
      <form
        class="stacked"
        onSubmit={(e) => {
          e.preventDefault();
          void deploy();
        }}
      >
        <label for="deploy-name">App name</label>
        <input id="deploy-name" value={name} onInput={(e) => setName(e.currentTarget.value)} pattern="[a-z0-9][a-z0-9-]{0,62}" title="lower-case letters, digits and -" required />
        <label for="deploy-url">Repository URL</label>
        <input id="deploy-url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} placeholder="https://example.com/team/app.git" required />
        <label for="deploy-ref">Ref</label>
        <input id="deploy-ref" value={ref} onInput={(e) => setRef(e.currentTarget.value)} placeholder="main (default: the repository's own)" />
        <button type="submit" disabled={state === 'deploying'}>
          Deploy
        </button>
      </form>
      <ErrorNote error={error} />
      {state === 'deploying' && <p role="status">Cloning and staging…</p>}
      {deployed && (
        <p role="status">
          Deployed: <a href={`/apps/${encodeURIComponent(deployed.name)}`} onClick={onLinkClick}>{deployed.name}</a> runs at {deployed.urls.join(', ')}
        </p>
      )}
      {log && (
        <pre class="log-lines" aria-label="Staging log">
          {log}
        </pre>
      )}
    </section>
  );
}

/** The staging log of the push after `previousTask`, as it is written, through the controller. */
async function followStaging(app: string, previousTask: string | null, signal: AbortSignal, write: (text: string) => void): Promise<void> {
  while (!signal.aborted) {
    const view = await api<AppView>('GET', path(app)).catch(() => null);
    if (view?.staging && view.staging.task_id !== previousTask) {
      const res = await apiFetch(`${path(app)}/logs?file=staging&tail=true&via=api`, { signal }).catch(() => null);
      if (res?.ok && res.body) {
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            write(value);
          }
        } catch {
          return;
        }
      }
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}
