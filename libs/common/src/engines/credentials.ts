import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The platform programs that talk to the engines, each with its own etcd user and NATS user.
 * The directory server needs neither (it serves files with HMAC-signed URLs), so it gets none.
 */
export const ENGINE_CLIENTS = ['controller', 'dea', 'router'] as const;
export type EngineClient = (typeof ENGINE_CLIENTS)[number];

/** etcd's user for setting up auth; no service runs with it. */
export const ETCD_ROOT_USER = 'root';
/** The user NATS servers of one cluster route to each other with; no client connects as it. */
export const NATS_ROUTE_USER = 'route';

export interface EngineCredentials {
  etcdRootPassword: string;
  /** What NATS servers of one cluster present to each other on their routes. */
  natsRoutePassword: string;
  /** Per client; the user name is the client's name. */
  etcd: Record<EngineClient, string>;
  nats: Record<EngineClient, string>;
}

/** The file (in the credentials directory) that keeps one password. */
function fileOf(engine: 'etcd' | 'nats', user: string): string {
  return `${engine}-${user}.password`;
}

async function keptSecret(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  try {
    const value = (await readFile(file, 'utf8')).trim();
    if (/^[0-9a-f]{64}$/.test(value)) return value;
  } catch {
    // made below
  }
  const value = randomBytes(32).toString('hex');
  await writeFile(file, `${value}\n`, { mode: 0o600 });
  // writeFile's mode applies only to a new file: one left behind with wider bits is narrowed.
  await chmod(file, 0o600);
  return value;
}

/**
 * Every engine password, made on first use into `dir` (mode 0600 files in a 0700 directory) and
 * kept: etcd holds the users it was set up with, so a second `nap up` must find the same ones.
 * Hex only, so a password never needs quoting in the NATS config.
 */
export async function loadEngineCredentials(dir: string): Promise<EngineCredentials> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const etcd = {} as Record<EngineClient, string>;
  const nats = {} as Record<EngineClient, string>;
  for (const c of ENGINE_CLIENTS) {
    etcd[c] = await keptSecret(dir, fileOf('etcd', c));
    nats[c] = await keptSecret(dir, fileOf('nats', c));
  }
  return { etcdRootPassword: await keptSecret(dir, fileOf('etcd', ETCD_ROOT_USER)), natsRoutePassword: await keptSecret(dir, fileOf('nats', NATS_ROUTE_USER)), etcd, nats };
}

/** The settings that give a client its own engine users (docs/contract.md §1: NAP_ETCD_USER, …). */
export function engineEnvOf(creds: EngineCredentials, client: EngineClient): Record<string, string> {
  return {
    NAP_ETCD_USER: client,
    NAP_ETCD_PASSWORD: creds.etcd[client],
    NAP_NATS_USER: client,
    NAP_NATS_PASSWORD: creds.nats[client],
  };
}

/** The variables that carry engine credentials: a program that is not an engine client gets none of them. */
export const ENGINE_SECRET_VARIABLES = ['NAP_ETCD_USER', 'NAP_ETCD_PASSWORD', 'NAP_NATS_USER', 'NAP_NATS_PASSWORD'] as const;

/** Keeps passwords handed to this node (by `nap join`) where loadEngineCredentials finds them. */
export async function saveEnginePasswords(
  dir: string,
  given: { etcd?: Partial<Record<EngineClient, string>>; nats?: Partial<Record<EngineClient, string>>; etcdRoot?: string; natsRoute?: string },
): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const etcd: Record<string, string | undefined> = { ...given.etcd, ...(given.etcdRoot ? { [ETCD_ROOT_USER]: given.etcdRoot } : {}) };
  const nats: Record<string, string | undefined> = { ...given.nats, ...(given.natsRoute ? { [NATS_ROUTE_USER]: given.natsRoute } : {}) };
  for (const [engine, passwords] of [['etcd', etcd], ['nats', nats]] as const) {
    for (const [user, password] of Object.entries(passwords)) {
      if (!password) continue;
      const file = join(dir, fileOf(engine, user));
      await writeFile(file, `${password}\n`, { mode: 0o600 });
      await chmod(file, 0o600);
    }
  }
}
