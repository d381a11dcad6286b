import type { msg } from '@nap/common';

/** An advertisement is trusted for this long: DEAs advertise every 5 s, so three missed ones mean gone. */
const ADVERT_TTL_MS = 15_000;

interface Known {
  advert: msg.DeaAdvertise;
  seenAt: number;
}

/**
 * The DEAs that advertised lately, with what they have room for. Placements made since a DEA's
 * last advertisement are subtracted here, so a burst of starts does not overfill one node.
 */
export class DeaPool {
  private readonly deas = new Map<string, Known>();

  constructor(private readonly now: () => number = Date.now) {}

  update(advert: msg.DeaAdvertise): void {
    this.deas.set(advert.id, { advert: structuredClone(advert), seenAt: this.now() });
  }

  live(): msg.DeaAdvertise[] {
    const cutoff = this.now() - ADVERT_TTL_MS;
    return [...this.deas.values()].filter((k) => k.seenAt >= cutoff).map((k) => k.advert);
  }

  /** A DEA known to be gone (its lease expired, or it did not answer) until it advertises again. */
  forget(id: string): void {
    this.deas.delete(id);
  }

  /** What the DEAs that take nothing new say about why, for a placement error. */
  unavailable(): string[] {
    return this.live()
      .filter((d) => d.unavailable)
      .map((d) => `${d.id}: ${d.unavailable}`);
  }

  get(id: string): msg.DeaAdvertise | undefined {
    return this.live().find((d) => d.id === id);
  }

  /**
   * The DEA for one more instance of `appId`: it must have room and the stack; then the zone with
   * fewest instances of the app, then the DEA with fewest, then the one with most free memory. So
   * losing a zone or a node loses as little of any one app as it can.
   */
  pick(appId: string, memoryMb: number, stack: string, diskMb = 0): msg.DeaAdvertise | null {
    const live = this.live();
    const inZone = new Map<string, number>();
    for (const d of live) inZone.set(d.zone, (inZone.get(d.zone) ?? 0) + (d.app_id_to_count[appId] ?? 0));
    const candidates = live
      .filter((d) => !d.unavailable && d.available_memory_mb >= memoryMb && d.available_disk_mb >= diskMb && d.stacks.includes(stack))
      .sort(
        (a, b) =>
          (inZone.get(a.zone) ?? 0) - (inZone.get(b.zone) ?? 0) ||
          (a.app_id_to_count[appId] ?? 0) - (b.app_id_to_count[appId] ?? 0) ||
          b.available_memory_mb - a.available_memory_mb,
      );
    return candidates[0] ?? null;
  }

  reserve(deaId: string, appId: string, memoryMb: number, diskMb = 0): void {
    const known = this.deas.get(deaId);
    if (!known) return;
    known.advert.available_memory_mb -= memoryMb;
    known.advert.available_disk_mb -= diskMb;
    known.advert.app_id_to_count[appId] = (known.advert.app_id_to_count[appId] ?? 0) + 1;
  }
}
