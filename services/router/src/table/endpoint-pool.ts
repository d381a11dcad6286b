import type { Endpoint } from './endpoint.js';

/**
 * The endpoints serving one host (or one wildcard). Balancing reads `endpoints`; only the table
 * writes. Pools hold a handful of instances, so a list searched in place beats a Map per pool in
 * memory (100,000 routes are mostly one-endpoint pools) and costs nothing measurable in time.
 */
export class EndpointPool {
  /**
   * Replaced, never changed in place, when an endpoint comes or goes: a request that is part way
   * through its tries keeps a consistent list.
   */
  private list: readonly Endpoint[] = [];
  /** Where round robin starts next; kept here so a pool dropped from the table takes it along. */
  cursor = 0;

  constructor(readonly host: string) {}

  get endpoints(): readonly Endpoint[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  get(key: string): Endpoint | undefined {
    const list = this.list;
    for (let i = 0; i < list.length; i++) if (list[i].address.key === key) return list[i];
    return undefined;
  }

  /** The endpoint of that instance, for sticky sessions. */
  byInstanceId(id: string): Endpoint | undefined {
    const list = this.list;
    for (let i = 0; i < list.length; i++) if (list[i].privateInstanceId === id) return list[i];
    return undefined;
  }

  add(endpoint: Endpoint): void {
    this.list = [...this.list, endpoint];
  }

  remove(endpoint: Endpoint): boolean {
    const i = this.list.indexOf(endpoint);
    if (i === -1) return false;
    this.list = [...this.list.slice(0, i), ...this.list.slice(i + 1)];
    return true;
  }

  /** Removes endpoints last registered before `cutoff` and returns them. */
  removeOlderThan(cutoff: number): Endpoint[] {
    const stale = this.list.filter((e) => e.updatedAt < cutoff);
    if (stale.length > 0) this.list = this.list.filter((e) => e.updatedAt >= cutoff);
    return stale;
  }
}
