/**
 * Starts sent to a DEA that have not shown up in etcd yet. Without this, a convergence pass that
 * runs between the start message and the DEA's first record would start the same index twice.
 */
export class PendingStarts {
  private readonly pending = new Map<string, { at: number; deaId: string | null }>();

  constructor(
    private readonly ttlMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  private key(appId: string, version: string, slot: string): string {
    return `${appId}/${version}/${slot}`;
  }

  add(appId: string, version: string, slot: string, deaId: string | null = null): void {
    this.pending.set(this.key(appId, version, slot), { at: this.now(), deaId });
  }

  /** A DEA that is gone will start nothing it was asked to: those starts are not pending any more. */
  forgetDea(deaId: string): void {
    for (const [k, v] of this.pending) if (v.deaId === deaId) this.pending.delete(k);
  }

  has(appId: string, version: string, slot: string): boolean {
    const k = this.key(appId, version, slot);
    const entry = this.pending.get(k);
    if (entry === undefined) return false;
    if (this.now() - entry.at > this.ttlMs) {
      this.pending.delete(k);
      return false;
    }
    return true;
  }

  clear(appId: string, version: string, slot: string): void {
    this.pending.delete(this.key(appId, version, slot));
  }
}
