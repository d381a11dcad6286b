import { endpointKey, type Endpoint } from './endpoint.js';

/** The endpoints serving one host. Balancing strategies read `endpoints`; only the table writes. */
export class EndpointPool {
  private readonly byKey = new Map<string, Endpoint>();
  /** Rebuilt on change rather than per request: lookups vastly outnumber registrations. */
  private list: readonly Endpoint[] = [];

  constructor(readonly host: string) {}

  get endpoints(): readonly Endpoint[] {
    return this.list;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Adds the endpoint, or refreshes it in place when host:port is already here. Returns true if it is new. */
  put(endpoint: Endpoint): boolean {
    const key = endpointKey(endpoint);
    const existing = this.byKey.get(key);
    if (existing) {
      Object.assign(existing, endpoint);
      return false;
    }
    this.byKey.set(key, { ...endpoint });
    this.list = [...this.byKey.values()];
    return true;
  }

  get(key: string): Endpoint | undefined {
    return this.byKey.get(key);
  }

  remove(key: string): boolean {
    if (!this.byKey.delete(key)) return false;
    this.list = [...this.byKey.values()];
    return true;
  }

  /** Removes endpoints last registered before `cutoff`; returns how many. */
  removeOlderThan(cutoff: number): number {
    let removed = 0;
    for (const [key, e] of this.byKey) {
      if (e.updatedAt < cutoff) {
        this.byKey.delete(key);
        removed++;
      }
    }
    if (removed > 0) this.list = [...this.byKey.values()];
    return removed;
  }
}
