import type { msg } from '@nap/common';
import type { BuildpackView, UserView } from '@nap/common/api-views';
import { useState } from 'preact/hooks';
import { useAction } from '../action';
import { api } from '../api';
import { megabytes } from '../format';
import { useLive } from '../live';
import { ErrorNote } from './error-note';
import { TableHead } from './table-head';

/** Users (admins only): the list, and a new user whose token is shown once. */
export function UsersPage() {
  const users = useLive(() => api<UserView[]>('GET', '/v1/users'), 10_000, 'users');
  const [name, setName] = useState('');
  const [role, setRole] = useState<'developer' | 'admin'>('developer');
  const [made, setMade] = useState<(UserView & { token: string }) | null>(null);
  const action = useAction();
  return (
    <section>
      <h1>Users</h1>
      <ErrorNote error={users.error} />
      {users.data && (
        <div class="table-wrap"><table>
          <TableHead columns={['Name', 'Role', 'Since']} />
          <tbody>
            {users.data.map((u) => (
              <tr key={u.name}>
                <th scope="row">{u.name}</th>
                <td>{u.role}</td>
                <td>{u.created_at?.slice(0, 10) ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table></div>
      )}
      <h2>New user</h2>
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          const made = await action.run(async () => setMade(await api<UserView & { token: string }>('POST', '/v1/users', { name: name.trim(), role })));
          if (made) {
            setName('');
            users.refresh();
          }
        }}
      >
        <label for="user-name">User name</label>
        <input id="user-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        <label for="user-role">Role</label>
        <select id="user-role" value={role} onChange={(e) => setRole(e.currentTarget.value as 'developer' | 'admin')}>
          <option value="developer">developer</option>
          <option value="admin">admin</option>
        </select>
        <button type="submit" disabled={action.busy}>
          Create user
        </button>
      </form>
      <ErrorNote error={action.error} />
      {made && (
        <div role="status" class="token-once">
          <p>
            {made.name} ({made.role}) can sign in with this token. It is shown only now: hand it over safely.
          </p>
          <code aria-label={`Token of ${made.name}`}>{made.token}</code>
        </div>
      )}
    </section>
  );
}

/** The DEAs (admins only): zone, free memory and disk, instances, and why one takes nothing new. */
export function DeasPage() {
  const deas = useLive(() => api<msg.DeaAdvertise[]>('GET', '/v1/deas'), 5000, 'deas');
  return (
    <section>
      <h1>DEAs</h1>
      <ErrorNote error={deas.error} />
      {deas.data && (
        <div class="table-wrap">
          <table>
            <TableHead columns={['DEA', 'Host', 'Zone', 'Free memory', 'Free disk', 'Instances', 'Takes new ones']} />
            <tbody>
              {deas.data.map((d) => (
                <tr key={d.id}>
                  <th scope="row">{d.id.slice(0, 8)}</th>
                  <td>{d.host}</td>
                  <td>{d.zone}</td>
                  <td>{megabytes(d.available_memory_mb)}</td>
                  <td>{megabytes(d.available_disk_mb)}</td>
                  <td>{Object.values(d.app_id_to_count).reduce((a, b) => a + b, 0)}</td>
                  <td>{d.unavailable ? `no: ${d.unavailable}` : 'yes'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** Buildpacks in detection order: the built-in ones, then the admins'. */
export function BuildpacksPage() {
  const packs = useLive(() => api<BuildpackView[]>('GET', '/v1/buildpacks'), 30_000, 'buildpacks');
  return (
    <section>
      <h1>Buildpacks</h1>
      <ErrorNote error={packs.error} />
      {packs.data && (
        <div class="table-wrap"><table>
          <TableHead columns={['Name', 'Kind', 'From']} />
          <tbody>
            {packs.data.map((b) => (
              <tr key={b.name}>
                <th scope="row">{b.name}</th>
                <td>{b.kind}</td>
                <td>{b.url ? `${b.url}${b.ref ? ` (${b.ref})` : ''}` : b.kind === 'builtin' ? 'built in' : 'an archive'}</td>
              </tr>
            ))}
          </tbody>
        </table></div>
      )}
    </section>
  );
}
