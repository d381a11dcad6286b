import { type Etcd3, keys, readPrefix } from '@nap/common';

/**
 * Who holds each route: one etcd key per host whose value is the holder's app id. Claims are
 * transactions, so two apps asking for the same host at once cannot both get it.
 */
export class RoutesRepository {
  constructor(private readonly etcd: Etcd3) {}

  /** True if `appId` holds `host` now (it already did, or the host was free). */
  async claim(host: string, appId: string): Promise<boolean> {
    const key = keys.route(host);
    const result = await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(appId)).else(this.etcd.get(key)).commit();
    if (result.succeeded) return true;
    const holder = result.responses[0]?.response_range?.kvs[0]?.value.toString();
    return holder === appId;
  }

  /** Lets go of `host` if `appId` holds it; someone else's claim is left alone. */
  async release(host: string, appId: string): Promise<void> {
    const key = keys.route(host);
    await this.etcd.if(key, 'Value', '==', appId).then(this.etcd.delete().key(key)).commit();
  }

  async owner(host: string): Promise<string | null> {
    return this.etcd.get(keys.route(host)).string();
  }

  async all(): Promise<Record<string, string>> {
    const raw = await readPrefix(this.etcd, keys.routes());
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.slice(keys.routes().length), v]));
  }
}

/** Claims every host or none: on a refusal, what this call claimed is let go again. */
export async function claimAll(routes: RoutesRepository, hosts: string[], appId: string): Promise<string | null> {
  const claimed: string[] = [];
  for (const host of hosts) {
    if (await routes.claim(host, appId)) claimed.push(host);
    else {
      await Promise.all(claimed.map((h) => routes.release(h, appId)));
      return host;
    }
  }
  return null;
}
