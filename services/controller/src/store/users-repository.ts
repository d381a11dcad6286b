import { createHash, randomBytes } from 'node:crypto';
import { type Etcd3, keys, readPrefix } from '@nap/common';

/** What a user may do: an admin everything, a developer their own apps, domains and buildpacks. */
export type Role = 'admin' | 'developer';

export interface UserRecord {
  name: string;
  role: Role;
  created_at: string;
  created_by: string;
}

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Users and their tokens in etcd. A token is kept only as its SHA-256 (it is 32 random bytes, so
 * no salt or slow hash is needed): it is shown once, when the user is made, and never again.
 */
export class UsersRepository {
  constructor(private readonly etcd: Etcd3) {}

  /** Makes the user and its token, or null when the name is taken. */
  async create(name: string, role: Role, createdBy: string): Promise<{ user: UserRecord; token: string } | null> {
    const token = randomBytes(32).toString('hex');
    const user: UserRecord = { name, role, created_at: new Date().toISOString(), created_by: createdBy };
    const result = await this.etcd
      .if(keys.user(name), 'Create', '==', 0)
      .then(this.etcd.put(keys.user(name)).value(JSON.stringify(user)), this.etcd.put(keys.token(tokenDigest(token))).value(name))
      .commit();
    return result.succeeded ? { user, token } : null;
  }

  async byToken(token: string): Promise<UserRecord | null> {
    const name = await this.etcd.get(keys.token(tokenDigest(token))).string();
    if (!name) return null;
    const raw = await this.etcd.get(keys.user(name)).string();
    return raw ? (JSON.parse(raw) as UserRecord) : null;
  }

  async list(): Promise<UserRecord[]> {
    const all = await readPrefix(this.etcd, keys.users());
    return Object.values(all).map((raw) => JSON.parse(raw) as UserRecord);
  }
}
