import type { AppView } from '@nap/common/api-views';
import { getOnce } from '../api';
import { ago, instancesOf, megabytes } from '../format';
import { useLive } from '../live';
import { onLinkClick } from '../router';
import { ErrorNote } from './error-note';
import { TableHead } from './table-head';

/** Every app the caller may see (a developer their own, an admin all: the API decides), refreshed live. */
export function AppsList() {
  const apps = useLive(() => getOnce<AppView[]>('/v1/apps'), 2000, 'apps');
  return (
    <section>
      <h1>Apps</h1>
      <ErrorNote error={apps.error} />
      {apps.data === undefined ? (
        !apps.error && <p class="loading">Loading…</p>
      ) : apps.data.length === 0 ? (
        <p>No app yet: push one with `nap push NAME -p DIR`.</p>
      ) : (
        <div class="table-wrap">
          <table class="apps">
            <TableHead columns={['Name', 'State', 'Instances', 'Memory', 'Routes', 'Last event']} />
            <tbody>
              {apps.data.map((app) => (
                <tr key={app.id} data-app={app.name}>
                  <th scope="row">
                    <a href={`/apps/${encodeURIComponent(app.name)}`} onClick={onLinkClick}>
                      {app.name}
                    </a>
                  </th>
                  <td class={`state ${app.state.toLowerCase()}`}>{app.package_state === 'FAILED' ? 'STAGING FAILED' : app.state}</td>
                  <td class="instances">{instancesOf(app)}</td>
                  <td>{megabytes(app.memory)}</td>
                  <td class="routes">
                    {app.urls.map((url) => (
                      <a key={url} href={url} rel="noreferrer noopener" target="_blank">
                        {url.replace(/^https?:\/\//, '')}
                      </a>
                    ))}
                  </td>
                  <td class="last-event">
                    {app.last_event && (
                      <>
                        {app.last_event.type} <time dateTime={app.last_event.time}>{ago(app.last_event.time)} ago</time>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
