import type { Address, Endpoint } from '../table/endpoint.js';
import type { EndpointPool } from '../table/endpoint-pool.js';
import { canTake, type BalancingStrategy } from './strategy.js';

/**
 * Each request starts at the endpoint after the one the previous request of the pool started at,
 * and walks on past endpoints that cannot take it. The cursor lives on the pool: no allocation
 * per request.
 */
export class RoundRobin implements BalancingStrategy {
  pick(pool: EndpointPool, maxInFlight: number, tried?: readonly Address[]): Endpoint | undefined {
    const list = pool.endpoints;
    const n = list.length;
    for (let i = 0; i < n; i++) {
      const cursor = pool.cursor;
      pool.cursor = cursor >= 0x3fffffff ? 0 : cursor + 1;
      const e = list[cursor % n];
      if (canTake(e, maxInFlight, tried)) return e;
    }
    return undefined;
  }
}
