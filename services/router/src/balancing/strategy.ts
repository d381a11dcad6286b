import type { Endpoint } from '../table/endpoint.js';
import type { EndpointPool } from '../table/endpoint-pool.js';

/**
 * Picks endpoints for one request. `next()` never returns an endpoint twice for the same
 * request, so a retry after a failed connection goes somewhere else; undefined means all were tried.
 */
export interface EndpointIterator {
  next(): Endpoint | undefined;
}

/** How a pool's load is spread (round robin now; least-connections and sticky sessions later). */
export interface BalancingStrategy {
  iterator(pool: EndpointPool): EndpointIterator;
}
