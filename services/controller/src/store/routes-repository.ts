import { type Etcd3, keys, readPrefix } from '@nap/common';

/** A key that must still be at `modRevision` for a claim to be made. */
export interface ClaimGuard {
  key: string;
  modRevision: string;
}

/**
 * Who holds each route: one etcd key per host whose value is the holder's app id. Claims are
 * transactions, so two apps asking for the same host at once cannot both get it.
 */
export class RoutesRepository {
  constructor(private readonly etcd: Etcd3) {}

  /**
   * `claimed` if `appId` holds `host` now (it already did, or the host was free); `taken` if
   * another app does; `guard_changed` if `guard`'s key (the private domain the claim was allowed
   * on) changed since it was read, so the permission may no longer hold.
   */
  async claim(host: string, appId: string, guard?: ClaimGuard): Promise<'claimed' | 'taken' | 'guard_changed'> {
    const key = keys.route(host);
    const free = this.etcd.if(key, 'Create', '==', 0);
    const condition = guard ? free.and(guard.key, 'Mod', '==', guard.modRevision) : free;
    const result = await condition.then(this.etcd.put(key).value(appId)).else(this.etcd.get(key)).commit();
    if (result.succeeded) return 'claimed';
    const holder = result.responses[0]?.response_range?.kvs[0]?.value.toString();
    if (holder === appId) return 'claimed';
    return holder === undefined ? 'guard_changed' : 'taken';
  }

  /** Lets go of `host` if `appId` holds it; someone else's claim is left alone. */
  async release(host: string, appId: string): Promise<void> {
    const key = keys.route(host);
    // Its options go with it: an app that maps the route again starts without them.
    await this.etcd.if(key, 'Value', '==', appId).then(this.etcd.delete().key(key), this.etcd.delete().key(keys.routeOption(host))).commit();
  }

  async owner(host: string): Promise<string | null> {
    return this.etcd.get(keys.route(host)).string();
  }

  async all(): Promise<Record<string, string>> {
    const raw = await readPrefix(this.etcd, keys.routes());
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.slice(keys.routes().length), v]));
  }
}

