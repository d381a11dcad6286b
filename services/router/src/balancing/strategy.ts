import type { Address, Endpoint } from '../table/endpoint.js';
import type { EndpointPool } from '../table/endpoint-pool.js';

/** How a pool's load is spread (round robin now; least-connections would be another one). */
export interface BalancingStrategy {
  /**
   * The endpoint the next try of a request goes to, among those that can take it: not marked
   * failing, fewer than `maxInFlight` requests in flight, not already tried by this request
   * (`tried`). Undefined when none can.
   */
  pick(pool: EndpointPool, maxInFlight: number, tried?: readonly Address[]): Endpoint | undefined;
}

/** Whether the endpoint can take one more request now. */
export function canTake(e: Endpoint, maxInFlight: number, tried: readonly Address[] | undefined): boolean {
  const a = e.address;
  return !a.failing && a.inFlight < maxInFlight && (tried === undefined || !tried.includes(a));
}
