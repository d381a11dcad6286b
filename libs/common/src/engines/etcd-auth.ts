import { Etcd3, EtcdAuthenticationFailedError, EtcdRoleExistsError, EtcdUserExistsError, Range } from 'etcd3';
import { keys } from '../keys.js';
import { tlsCredentials } from '../etcd.js';
import { ENGINE_CLIENTS, type EngineClient, type EngineCredentials, ETCD_ROOT_USER } from './credentials.js';

type Permission = 'Read' | 'Write' | 'Readwrite';
interface Grant {
  permission: Permission;
  prefix: string;
}

/**
 * What each client may touch in etcd: the one definition of the platform's roles (a role per
 * client, named like it). etcd 3.4 checks leases too: revoking one needs write on every key
 * attached, which the DEA has on its own records. Elections (the controller's health manager)
 * live under etcd3's `election/` prefix.
 */
export const ETCD_GRANTS: Record<EngineClient, Grant[]> = {
  controller: [
    { permission: 'Readwrite', prefix: '/nap/' },
    { permission: 'Readwrite', prefix: 'election/' },
  ],
  // Its own records under its lease, and the other DEAs' (how many are alive, for evacuation);
  // the actual state of an app's instances (which indices run). Nothing of desired state, users or tokens.
  dea: [
    { permission: 'Readwrite', prefix: keys.actualInstances() },
    { permission: 'Readwrite', prefix: keys.deas() },
    // How the tasks it ran ended (never their records, which are the controller's), and its instances' usage.
    { permission: 'Readwrite', prefix: keys.taskResults() },
    { permission: 'Readwrite', prefix: keys.usages() },
    // Where the apps' lines go: read only.
    { permission: 'Read', prefix: keys.allDrains() },
  ],
  // Claimed routes, their options and the certificates to serve them with (keys sealed), only to read them.
  router: [
    { permission: 'Read', prefix: keys.routes() },
    { permission: 'Read', prefix: keys.routeOptions() },
    { permission: 'Read', prefix: keys.certs() },
    { permission: 'Read', prefix: keys.defaultCert() },
    { permission: 'Read', prefix: keys.acmeChallenges() },
  ],
};

export class EtcdAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EtcdAuthError';
  }
}

const AUTH_NOT_ENABLED = /authentication is not enabled/;

function sameRange(a: Range, b: Range): boolean {
  return a.start.equals(b.start) && a.end.equals(b.end);
}

async function ignoring<T>(what: new (...args: never[]) => Error, p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof what) return undefined;
    throw err;
  }
}

/** Whether etcd takes this user's password as it is (an authentication changes nothing in etcd's auth store). */
async function passwordTaken(client: Etcd3, name: string, password: string): Promise<boolean> {
  try {
    await client.auth.authenticate({ name, password });
    return true;
  } catch (err) {
    // Failed, or auth not on yet (a user left by a set-up that stopped before enabling it): set it.
    if (err instanceof EtcdAuthenticationFailedError || AUTH_NOT_ENABLED.test((err as Error).message)) return false;
    throw err;
  }
}

/**
 * Roles with exactly their grants (a grant no longer in the table is revoked), users with their
 * password and role. Only what differs is written: each change to etcd's auth store raises its
 * revision, and every token issued before is then refused ("revision of auth store is old") until
 * its client logs in again, so a `nap up` on a running nap that rewrote everything would trip
 * every program (and itself) mid-call.
 */
async function applyUsersAndRoles(client: Etcd3, creds: EngineCredentials): Promise<void> {
  for (const name of ENGINE_CLIENTS) {
    const role = client.role(name);
    await ignoring(EtcdRoleExistsError, role.create());
    const wanted = ETCD_GRANTS[name].map((g) => ({ permission: g.permission, range: Range.prefix(g.prefix) }));
    const held = await role.permissions();
    for (const h of held) {
      if (!wanted.some((w) => w.permission === h.permission && sameRange(w.range, h.range))) {
        await role.revoke({ permission: h.permission, range: h.range });
      }
    }
    const missing = wanted.filter((w) => !held.some((h) => w.permission === h.permission && sameRange(w.range, h.range)));
    if (missing.length) await role.grant(missing);
    const user = client.user(name);
    const created = await ignoring(EtcdUserExistsError, user.create(creds.etcd[name]));
    if (!created && !(await passwordTaken(client, name, creds.etcd[name]))) await user.setPassword(creds.etcd[name]);
    if (!(await user.roles()).some((r) => r.name === name)) await user.addRole(name);
  }
}

function wait(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Turns etcd's auth on with a user and role per client, as ETCD_GRANTS says. Idempotent: on an
 * etcd with auth already on it logs in as root and brings users, passwords and grants in line; on
 * one without (a new one, or an installation from before auth) it makes root and the users first,
 * then enables auth. Retries with bounded back-off while etcd is not answering yet.
 */
export async function ensureEtcdAuth(urls: string[], creds: EngineCredentials, opts: { timeoutMs?: number; caFile?: string } = {}): Promise<void> {
  const credentials = tlsCredentials(opts.caFile);
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let delay = 100;
  for (;;) {
    // A new client per try: a failed call can leave a client's circuit breaker open.
    const root = new Etcd3({ hosts: urls, dialTimeout: 3000, credentials, auth: { username: ETCD_ROOT_USER, password: creds.etcdRootPassword } });
    try {
      try {
        await root.get('/nap/').string();
        await applyUsersAndRoles(root, creds);
        return;
      } catch (err) {
        if (!AUTH_NOT_ENABLED.test((err as Error).message)) throw err;
      }
      const open = new Etcd3({ hosts: urls, dialTimeout: 3000, credentials });
      try {
        const rootUser = open.user(ETCD_ROOT_USER);
        if (!(await ignoring(EtcdUserExistsError, rootUser.create(creds.etcdRootPassword)))) await rootUser.setPassword(creds.etcdRootPassword);
        await rootUser.addRole('root');
        await applyUsersAndRoles(open, creds);
        await open.auth.authEnable();
      } finally {
        open.close();
      }
      return;
    } catch (err) {
      if (err instanceof EtcdAuthenticationFailedError) {
        throw new EtcdAuthError(
          `etcd at ${urls.join(',')} has auth on, and its root user does not take the password kept in NAP_HOME: ` +
            'restore that file, or set the root password with etcdctl (prompting for it) and write it there',
        );
      }
      if (Date.now() + delay > deadline) throw new EtcdAuthError(`could not set up etcd auth at ${urls.join(',')}: ${(err as Error).message}`);
      await wait(delay);
      delay = Math.min(delay * 2, 2000);
    } finally {
      root.close();
    }
  }
}
