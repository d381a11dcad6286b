import { VCAP } from '../runtime/docker-runtime.js';

/** What an image run needs to decide its user: its USER, and its /etc/passwd and /etc/group when it has them. */
export interface ImageAccounts {
  passwd: string | null;
  group: string | null;
}

/** name → id from a passwd or group file (`name:x:id:…`); the first entry of a name wins, as getpwnam does. */
function idsByName(file: string | null): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of (file ?? '').split('\n')) {
    const [name, , id] = line.split(':');
    if (!name || id === undefined || !/^\d+$/.test(id) || ids.has(name)) continue;
    ids.set(name, Number(id));
  }
  return ids;
}

function primaryGids(passwd: string | null): Map<number, number> {
  const gids = new Map<number, number>();
  for (const line of (passwd ?? '').split('\n')) {
    const [, , uid, gid] = line.split(':');
    if (uid && gid && /^\d+$/.test(uid) && /^\d+$/.test(gid) && !gids.has(Number(uid))) gids.set(Number(uid), Number(gid));
  }
  return gids;
}

const vcap = `${VCAP.uid}:${VCAP.gid}`;

/**
 * The user an image droplet's instance runs as: always numeric `uid:gid`, never 0 for either.
 * A Dockerfile's `USER` that is empty, `root`, `0`, or any name the image's /etc/passwd gives uid 0
 * (a `toor:x:0:0` line) runs as vcap (2000:2000), as buildpack apps do; so does a name the image
 * cannot resolve. A group of 0 (by number or by name) becomes vcap's group. Numbers are resolved
 * here rather than by the engine so that what was checked is what runs.
 */
export function instanceUser(configUser: string | undefined, accounts: ImageAccounts): string {
  const spec = (configUser ?? '').trim();
  if (!spec) return vcap;
  const [userPart, groupPart] = spec.split(':', 2);
  const users = idsByName(accounts.passwd);
  const uid = /^\d+$/.test(userPart) ? Number(userPart) : users.get(userPart);
  if (uid === undefined || uid === 0) return vcap;
  let gid: number | undefined;
  if (groupPart === undefined || groupPart === '') gid = primaryGids(accounts.passwd).get(uid) ?? uid;
  else gid = /^\d+$/.test(groupPart) ? Number(groupPart) : idsByName(accounts.group).get(groupPart);
  if (gid === undefined || gid === 0) gid = VCAP.gid;
  return `${uid}:${gid}`;
}
