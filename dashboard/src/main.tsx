import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from './api';
import { AppPage } from './pages/app-page';
import { AppsList } from './pages/apps-list';
import { SignIn } from './pages/sign-in';
import { navigate, onLinkClick, usePath } from './router';
import { session } from './session';
import './styles.css';

interface Caller {
  name: string;
  role: string;
}

function Shell() {
  const path = usePath();
  const [caller, setCaller] = useState<Caller | null | undefined>(undefined);
  const [signInError, setSignInError] = useState<string | undefined>(undefined);

  const whoami = async () => {
    if (!session.token()) return setCaller(null);
    try {
      setCaller(await api<Caller>('GET', '/v1/whoami'));
      setSignInError(undefined);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        session.signOut();
        setSignInError('That token was refused: check it, or ask an admin for a new one (nap users create).');
      } else {
        setSignInError(err instanceof Error ? err.message : String(err));
      }
      setCaller(null);
    }
  };
  useEffect(() => void whoami(), []);

  if (caller === undefined) return <p class="loading">Loading…</p>;
  if (caller === null) {
    return (
      <SignIn
        error={signInError}
        onToken={(token) => {
          session.signIn(token);
          void whoami();
        }}
      />
    );
  }
  const app = /^\/apps\/([^/]+)$/.exec(path);
  return (
    <>
      <header class="top">
        <a href="/" class="brand" onClick={onLinkClick}>
          nap
        </a>
        <nav aria-label="Pages">
          <a href="/" onClick={onLinkClick} aria-current={path === '/' ? 'page' : undefined}>
            Apps
          </a>
        </nav>
        <span class="who" aria-label="Signed in as">
          {caller.name} <span class="role">({caller.role})</span>
        </span>
        <button
          type="button"
          onClick={() => {
            session.signOut();
            setCaller(null);
            navigate('/');
          }}
        >
          Sign out
        </button>
      </header>
      <main>{app ? <AppPage name={decodeURIComponent(app[1])} /> : path === '/' ? <AppsList /> : <NotFound />}</main>
    </>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No page here. <a href="/" onClick={onLinkClick}>See the apps</a>.
      </p>
    </section>
  );
}

render(<Shell />, document.getElementById('root')!);
