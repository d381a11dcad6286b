import { type Etcd3, keys, readPrefix } from '@nap/common';

export interface Crashes {
  count: number;
  last_crash: number;
  /** The app version that crashed; a new one (a push, an env change, a rollback) counts from zero, as a new Cloud Foundry LRP does. */
  version?: string;
}

/** A slot's crashes that hold against `version`: none when they were another version's. */
export function crashesOf(history: Crashes | undefined, version: string): Crashes | undefined {
  return history && (history.version === undefined || history.version === version) ? history : undefined;
}

/** Crashes per app instance slot, in etcd so that a new health manager keeps counting where the old one was. */
export class CrashHistory {
  constructor(private readonly etcd: Etcd3) {}

  /** By slot (see slotKey): the bare index for web, `<type>-<index>` for other process types. */
  async ofApp(appId: string): Promise<Map<string, Crashes>> {
    const all = await readPrefix(this.etcd, keys.crashes(appId));
    const out = new Map<string, Crashes>();
    for (const [key, raw] of Object.entries(all)) {
      const slot = key.slice(key.lastIndexOf('/') + 1);
      try {
        out.set(slot, JSON.parse(raw) as Crashes);
      } catch {
        // a malformed entry counts as no crashes
      }
    }
    return out;
  }

  async recordCrash(appId: string, slot: string, at: number, version: string): Promise<Crashes> {
    const key = keys.crash(appId, slot);
    const raw = await this.etcd.get(key).string();
    const previous = crashesOf(raw ? (JSON.parse(raw) as Crashes) : undefined, version) ?? { count: 0, last_crash: 0 };
    const next = { count: previous.count + 1, last_crash: at, version };
    await this.etcd.put(key).value(JSON.stringify(next));
    return next;
  }

  async reset(appId: string, slot: string): Promise<void> {
    await this.etcd.delete().key(keys.crash(appId, slot));
  }

  async deleteAll(appId: string): Promise<void> {
    await this.etcd.delete().prefix(keys.crashes(appId));
  }
}
