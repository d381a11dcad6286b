/** One app instance reachable at host:port, as a DEA announced it on router.register. */
export interface Endpoint {
  host: string;
  port: number;
  privateInstanceId?: string;
  app?: string;
  tags: Record<string, string>;
  /** Milliseconds since the epoch of the last router.register; prune() compares against it. */
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
