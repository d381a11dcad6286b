import { stickyEndpoint } from '../balancing/sticky.js';
import type { BalancingStrategy } from '../balancing/strategy.js';
import type { RouterError } from '../status/metrics.js';
import { type Address, type Endpoint, normalizeHost } from '../table/endpoint.js';
import type { EndpointPool } from '../table/endpoint-pool.js';
import type { RouteTable } from '../table/route-table.js';

export type Admission = { pool: EndpointPool } | { refused: RouterError; host?: string };

/**
 * Whether a request (or a websocket upgrade: the same rules) is taken, and for which pool: refused
 * at once past the router-wide cap, then by its Host header, then by the route table.
 */
export function admit(table: RouteTable, host: string | undefined, inFlight: number, maxInFlight: number): Admission {
  // Before anything else: under overload, a fast no beats a slow everything.
  if (inFlight >= maxInFlight) return { refused: 'overloaded' };
  if (host === undefined || host === '') return { refused: 'empty_host' };
  const pool = table.lookup(host);
  return pool === undefined ? { refused: 'unknown_route', host: normalizeHost(host) } : { pool };
}

/** The instance a try goes to: the sticky one when the client has one and it can take it, else the strategy's pick. */
export function pickEndpoint(pool: EndpointPool, balancing: BalancingStrategy, maxConns: number, stickyId: string | undefined, tried?: readonly Address[]): Endpoint | undefined {
  return (stickyId !== undefined ? stickyEndpoint(pool, stickyId, maxConns, tried) : undefined) ?? balancing.pick(pool, maxConns, tried);
}
