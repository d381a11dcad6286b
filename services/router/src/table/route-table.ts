import { endpointKey, normalizeHost, type Endpoint } from './endpoint.js';
import { EndpointPool } from './endpoint-pool.js';

/** What router.register and router.unregister carry, in the table's own terms. */
export interface Registration {
  host: string;
  port: number;
  uris: readonly string[];
  app?: string;
  privateInstanceId?: string;
  tags?: Record<string, string>;
}

export interface RouteTableOptions {
  /** Injected so pruning can be tested without waiting. */
  now?: () => number;
}

/** Hosts to pools of endpoints. A pool exists only while it has an endpoint. */
export class RouteTable {
  private readonly pools = new Map<string, EndpointPool>();
  private readonly now: () => number;

  constructor(opts: RouteTableOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  register(r: Registration): void {
    const updatedAt = this.now();
    for (const uri of r.uris) {
      const host = normalizeHost(uri);
      if (!host) continue;
      let pool = this.pools.get(host);
      if (!pool) {
        pool = new EndpointPool(host);
        this.pools.set(host, pool);
      }
      pool.put({
        host: r.host,
        port: r.port,
        privateInstanceId: r.privateInstanceId,
        app: r.app,
        tags: r.tags ?? {},
        updatedAt,
      });
    }
  }

  /** Returns how many (uri, endpoint) routes were removed. */
  unregister(r: Registration): number {
    const key = endpointKey(r);
    let removed = 0;
    for (const uri of r.uris) {
      const host = normalizeHost(uri);
      const pool = this.pools.get(host);
      const existing = pool?.get(key);
      if (!pool || !existing) continue;
      // A late unregister from a crashed instance must not remove the new instance that
      // the DEA has since started on the same port (gorouter checks this too).
      if (r.privateInstanceId && existing.privateInstanceId && r.privateInstanceId !== existing.privateInstanceId) continue;
      pool.remove(key);
      removed++;
      if (pool.size === 0) this.pools.delete(host);
    }
    return removed;
  }

  lookup(host: string): EndpointPool | undefined {
    return this.pools.get(normalizeHost(host));
  }

  /**
   * Removes endpoints not re-registered within `olderThanMs`: the DEA that owned them is gone
   * or cut off, and a stale route would send users to a port some other app may now hold.
   */
  prune(olderThanMs: number): number {
    const cutoff = this.now() - olderThanMs;
    let removed = 0;
    for (const [host, pool] of this.pools) {
      removed += pool.removeOlderThan(cutoff);
      if (pool.size === 0) this.pools.delete(host);
    }
    return removed;
  }

  get hostCount(): number {
    return this.pools.size;
  }

  /** host → endpoints, for the status server. */
  snapshot(): Record<string, Endpoint[]> {
    const out: Record<string, Endpoint[]> = {};
    for (const [host, pool] of this.pools) out[host] = pool.endpoints.map((e) => ({ ...e, tags: { ...e.tags } }));
    return out;
  }
}
