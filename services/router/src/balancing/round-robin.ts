import { endpointKey, type Endpoint } from '../table/endpoint.js';
import type { EndpointPool } from '../table/endpoint-pool.js';
import type { BalancingStrategy, EndpointIterator } from './strategy.js';

/** Each request starts at the endpoint after the one the previous request of the pool started at. */
export class RoundRobin implements BalancingStrategy {
  /** Keyed weakly by pool so a pool dropped from the table takes its cursor with it. */
  private readonly cursors = new WeakMap<EndpointPool, number>();

  iterator(pool: EndpointPool): EndpointIterator {
    const tried = new Set<string>();
    return {
      next: (): Endpoint | undefined => {
        // Re-read the list on every call: a retry should see endpoints registered meanwhile.
        const endpoints = pool.endpoints;
        for (let i = 0; i < endpoints.length; i++) {
          const cursor = this.cursors.get(pool) ?? 0;
          this.cursors.set(pool, (cursor + 1) % Number.MAX_SAFE_INTEGER);
          const candidate = endpoints[cursor % endpoints.length];
          const key = endpointKey(candidate);
          if (!tried.has(key)) {
            tried.add(key);
            return candidate;
          }
        }
        return undefined;
      },
    };
  }
}
