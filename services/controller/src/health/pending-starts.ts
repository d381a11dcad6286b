/**
 * Starts sent to a DEA that have not shown up in etcd yet. Without this, a convergence pass that
 * runs between the start message and the DEA's first record would start the same index twice.
 */
export class PendingStarts {
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly ttlMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  private key(appId: string, version: string, index: number): string {
    return `${appId}/${version}/${index}`;
  }

  add(appId: string, version: string, index: number): void {
    this.pending.set(this.key(appId, version, index), this.now());
  }

  has(appId: string, version: string, index: number): boolean {
    const k = this.key(appId, version, index);
    const at = this.pending.get(k);
    if (at === undefined) return false;
    if (this.now() - at > this.ttlMs) {
      this.pending.delete(k);
      return false;
    }
    return true;
  }

  clear(appId: string, version: string, index: number): void {
    this.pending.delete(this.key(appId, version, index));
  }
}
