import { Address, endpointKey, normalizeHost, type Endpoint } from './endpoint.js';
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

/** One endpoint as /routes shows it. */
export interface RouteView {
  address: string;
  private_instance_id?: string;
  app?: string;
  tags: Record<string, string>;
  updated_at: string;
  failing: boolean;
}

const noTags: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Hosts to pools of endpoints. Exact hosts live in one Map; wildcard routes (`*.example.com`) in
 * another, keyed by the suffix after `*.`. A lookup is one Map get, and only a miss walks the
 * host's suffixes, longest first (gorouter's order: the most specific wildcard wins), so it costs
 * O(labels), never O(routes). A pool exists only while it has an endpoint.
 *
 * Claims (the hosts apps hold in etcd, whether or not an instance runs) are consulted only on a
 * miss: a claimed host with no endpoint gets an empty pool (503 no_endpoints), never the pool of
 * someone else's wildcard, as in Cloud Foundry where a route exists apart from its instances.
 */
export class RouteTable {
  private readonly exact = new Map<string, EndpointPool>();
  private readonly wildcards = new Map<string, EndpointPool>();
  /** Claimed hosts and claimed wildcard suffixes → an empty pool named after the claim. */
  /** Routes (as claimed: a host or `*.domain`) whose holder asked for HTTPS only (issue 17): plain requests are redirected. */
  readonly httpsOnly = new Set<string>();
  /** ACME HTTP-01 answers by token (issue 17), which the router gives on its plain port for any host. */
  readonly acmeChallenges = new Map<string, string>();
  private claimedExact = new Map<string, EndpointPool>();
  private claimedWildcards = new Map<string, EndpointPool>();
  /** host:port → the state every route to that instance shares (failing mark, requests in flight). */
  private readonly addresses = new Map<string, Address>();
  private routes = 0;
  private readonly now: () => number;

  constructor(opts: RouteTableOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  register(r: Registration): void {
    const updatedAt = this.now();
    const key = endpointKey(r);
    let address = this.addresses.get(key);
    if (!address) {
      address = new Address(key, r.host, r.port);
      this.addresses.set(key, address);
    }
    // The instance announced itself again: whatever made a connection fail may be over.
    address.failing = false;
    const tags = r.tags ?? noTags;
    for (const uri of r.uris) {
      const route = parseRoute(uri);
      if (!route) continue;
      const pools = route.wildcard ? this.wildcards : this.exact;
      let pool = pools.get(route.name);
      if (!pool) {
        pool = new EndpointPool(route.wildcard ? `*.${route.name}` : route.name);
        pools.set(route.name, pool);
      }
      const existing = pool.get(key);
      if (existing) {
        existing.updatedAt = updatedAt;
        existing.privateInstanceId = r.privateInstanceId;
        existing.app = r.app;
        existing.tags = tags;
        continue;
      }
      pool.add({ address, host: r.host, port: r.port, privateInstanceId: r.privateInstanceId, app: r.app, tags, updatedAt });
      address.routes++;
      this.routes++;
    }
    if (address.routes === 0) this.addresses.delete(key);
  }

  /** Returns how many (uri, endpoint) routes were removed. */
  unregister(r: Registration): number {
    const key = endpointKey(r);
    let removed = 0;
    for (const uri of r.uris) {
      const route = parseRoute(uri);
      if (!route) continue;
      const pools = route.wildcard ? this.wildcards : this.exact;
      const pool = pools.get(route.name);
      const existing = pool?.get(key);
      if (!pool || !existing) continue;
      // A late unregister from a crashed instance must not remove the new instance that
      // the DEA has since started on the same port (gorouter checks this too).
      if (r.privateInstanceId && existing.privateInstanceId && r.privateInstanceId !== existing.privateInstanceId) continue;
      pool.remove(existing);
      this.release(existing);
      removed++;
      if (pool.size === 0) pools.delete(route.name);
    }
    return removed;
  }

  /**
   * The pool for a Host header: the exact host, else an empty pool if the host is claimed, else
   * the longest matching wildcard (registered, or claimed and empty).
   */
  lookup(rawHost: string): EndpointPool | undefined {
    const host = normalizeHost(rawHost);
    const pool = this.exact.get(host);
    if (pool !== undefined) return pool;
    const claimed = this.claimedExact.get(host);
    if (claimed !== undefined || (this.wildcards.size === 0 && this.claimedWildcards.size === 0)) return claimed;
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const suffix = host.slice(dot + 1);
      const wild = this.wildcards.get(suffix) ?? this.claimedWildcards.get(suffix);
      if (wild !== undefined) return wild;
    }
    return undefined;
  }

  /** Replaces every claim at once (a fresh read of etcd). */
  replaceClaims(hosts: Iterable<string>): void {
    const exact = new Map<string, EndpointPool>();
    const wildcards = new Map<string, EndpointPool>();
    for (const host of hosts) addClaim(host, exact, wildcards);
    this.claimedExact = exact;
    this.claimedWildcards = wildcards;
  }

  /** Returns false for a host that is no route (a `*` in the wrong place). */
  claim(host: string): boolean {
    return addClaim(host, this.claimedExact, this.claimedWildcards);
  }

  unclaim(host: string): void {
    const route = parseRoute(host);
    if (route) (route.wildcard ? this.claimedWildcards : this.claimedExact).delete(route.name);
  }

  /** Hosts and wildcards claimed in etcd, as last heard. */
  get claimCount(): number {
    return this.claimedExact.size + this.claimedWildcards.size;
  }

  /**
   * Removes endpoints not re-registered within `olderThanMs`: the DEA that owned them is gone
   * or cut off, and a stale route would send users to a port some other app may now hold.
   */
  prune(olderThanMs: number): number {
    const cutoff = this.now() - olderThanMs;
    let removed = 0;
    for (const pools of [this.exact, this.wildcards]) {
      for (const [name, pool] of pools) {
        const stale = pool.removeOlderThan(cutoff);
        for (const e of stale) this.release(e);
        removed += stale.length;
        if (pool.size === 0) pools.delete(name);
      }
    }
    return removed;
  }

  /** Hosts and wildcards with at least one endpoint. */
  get hostCount(): number {
    return this.exact.size + this.wildcards.size;
  }

  /** (host, endpoint) pairs. */
  get routeCount(): number {
    return this.routes;
  }

  /** Distinct instance addresses. */
  get endpointCount(): number {
    return this.addresses.size;
  }

  /** Every address the table knows, for metrics over upstream state. */
  /** The shared state of one instance's host:port, while any route leads to it. */
  address(host: string, port: number): Address | undefined {
    return this.addresses.get(endpointKey({ host, port }));
  }

  allAddresses(): IterableIterator<Address> {
    return this.addresses.values();
  }

  /** host → endpoints, for /routes. */
  snapshot(): Record<string, RouteView[]> {
    const out: Record<string, RouteView[]> = {};
    for (const pools of [this.exact, this.wildcards]) {
      for (const pool of pools.values()) out[pool.host] = pool.endpoints.map(view);
    }
    return out;
  }

  private release(e: Endpoint): void {
    this.routes--;
    if (--e.address.routes === 0) this.addresses.delete(e.address.key);
  }
}

function addClaim(host: string, exact: Map<string, EndpointPool>, wildcards: Map<string, EndpointPool>): boolean {
  const route = parseRoute(host);
  if (!route) return false;
  const claims = route.wildcard ? wildcards : exact;
  if (!claims.has(route.name)) claims.set(route.name, new EndpointPool(route.wildcard ? `*.${route.name}` : route.name));
  return true;
}

function view(e: Endpoint): RouteView {
  return {
    address: e.address.key,
    private_instance_id: e.privateInstanceId,
    app: e.app,
    tags: { ...e.tags },
    updated_at: new Date(e.updatedAt).toISOString(),
    failing: e.address.failing,
  };
}

/** `*.example.com` is a wildcard over example.com's subdomains; a `*` anywhere else is no route. */
function parseRoute(uri: string): { wildcard: boolean; name: string } | undefined {
  const host = normalizeHost(uri);
  if (host.startsWith('*.')) {
    const name = host.slice(2);
    return name && !name.includes('*') ? { wildcard: true, name } : undefined;
  }
  return host && !host.includes('*') ? { wildcard: false, name: host } : undefined;
}
