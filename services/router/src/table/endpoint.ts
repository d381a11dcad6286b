/**
 * One app instance's address, shared by every route that leads to it: what the proxy needs per
 * request (its target) and what must hold across routes (requests in flight, a failed connect).
 */
export class Address {
  /** Handed to http-proxy as is: made once here rather than once per request. */
  readonly target: { protocol: 'http:'; host: string; port: number };
  /** The per-request options of http-proxy for a first try: shared, since http-proxy copies them. */
  readonly proxyOptions: { target: Address['target'] };
  /** Requests in flight to this address from this process. */
  inFlight = 0;
  /**
   * A connection to it failed: skipped until the next router.register for it. gorouter does the
   * same; the DEA re-registers every interval, so a dead instance costs at most one try per interval.
   */
  failing = false;
  /** Routes (host, endpoint) holding it; the table forgets the address at 0. */
  routes = 0;

  constructor(
    readonly key: string,
    readonly host: string,
    readonly port: number,
  ) {
    this.target = { protocol: 'http:', host, port };
    this.proxyOptions = { target: this.target };
  }
}

/** One app instance in one route's pool, as a DEA announced it on router.register. */
export interface Endpoint {
  readonly address: Address;
  readonly host: string;
  readonly port: number;
  privateInstanceId?: string;
  app?: string;
  tags: Readonly<Record<string, string>>;
  /** Milliseconds since the epoch of the last router.register of this route; prune() compares against it. */
  updatedAt: number;
}

export function endpointKey(e: { host: string; port: number }): string {
  return `${e.host}:${e.port}`;
}

/**
 * The key a route is stored and looked up by: lowercased, without port or trailing dot.
 * DNS names are case-insensitive and clients may send `Host: App.Nap.Localhost:8080.`;
 * all of them must reach the same pool.
 */
export function normalizeHost(raw: string): string {
  // The usual case, a lowercase name without port or dot at the end, costs one scan and no copy.
  if (isPlainHost(raw)) return raw;
  let host = raw.trim().toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end === -1 ? host : host.slice(0, end + 1);
  } else {
    const colon = host.indexOf(':');
    // More than one colon is a bare IPv6 address, which has no port to strip.
    if (colon !== -1 && host.indexOf(':', colon + 1) === -1) host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host;
}

function isPlainHost(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    // a-z, 0-9, '-', '.', '_', '*'
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 42)) return false;
  }
  return s.charCodeAt(n - 1) !== 46;
}
