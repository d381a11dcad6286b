import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, prefetch } from './api';
import { BuildpacksPage, DeasPage, UsersPage } from './pages/admin-pages';
import { AppPage } from './pages/app-page';
import { AppsList } from './pages/apps-list';
import { DeployPage } from './pages/deploy-page';
import { SignIn } from './pages/sign-in';
import { navigate, onLinkClick, usePath } from './router';
import { session } from './session';
import './styles.css';

interface Caller {
  name: string;
  role: string;
}

/** The pages of the top bar; an admin's show only to admins (the API refuses the others anyway). */
const pages = [
  { path: '/', label: 'Apps', admin: false, page: () => <AppsList /> },
  { path: '/deploy', label: 'Deploy from git', admin: false, page: () => <DeployPage /> },
  { path: '/users', label: 'Users', admin: true, page: () => <UsersPage /> },
  { path: '/deas', label: 'DEAs', admin: true, page: () => <DeasPage /> },
  { path: '/buildpacks', label: 'Buildpacks', admin: false, page: () => <BuildpacksPage /> },
];

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
          {pages.filter((p) => !p.admin || caller.role === 'admin').map((p) => (
            <a key={p.path} href={p.path} onClick={onLinkClick} aria-current={path === p.path ? 'page' : undefined}>
              {p.label}
            </a>
          ))}
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
      <main>{app ? <AppPage name={decodeURIComponent(app[1])} /> : (pages.find((p) => p.path === path)?.page() ?? <NotFound />)}</main>
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

// The app list is the first page of most visits: asked for together with whoami, not after it.
if (session.token() && location.pathname === '/') prefetch('/v1/apps');
render(<Shell />, document.getElementById('root')!);
