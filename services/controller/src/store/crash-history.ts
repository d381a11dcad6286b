import { type Etcd3, keys } from '@nap/common';

export interface Crashes {
  count: number;
  last_crash: number;
}

/** Crashes per app index, in etcd so that a new health manager keeps counting where the old one was. */
export class CrashHistory {
  constructor(private readonly etcd: Etcd3) {}

  async ofApp(appId: string): Promise<Map<number, Crashes>> {
    const all = await this.etcd.getAll().prefix(keys.crashes(appId)).strings();
    const out = new Map<number, Crashes>();
    for (const [key, raw] of Object.entries(all)) {
      const index = Number(key.slice(key.lastIndexOf('/') + 1));
      try {
        out.set(index, JSON.parse(raw) as Crashes);
      } catch {
        // a malformed entry counts as no crashes
      }
    }
    return out;
  }

  async recordCrash(appId: string, index: number, at: number): Promise<Crashes> {
    const key = keys.crash(appId, index);
    const raw = await this.etcd.get(key).string();
    const previous = raw ? (JSON.parse(raw) as Crashes) : { count: 0, last_crash: 0 };
    const next = { count: previous.count + 1, last_crash: at };
    await this.etcd.put(key).value(JSON.stringify(next));
    return next;
  }

  async reset(appId: string, index: number): Promise<void> {
    await this.etcd.delete().key(keys.crash(appId, index));
  }

  async deleteAll(appId: string): Promise<void> {
    await this.etcd.delete().prefix(keys.crashes(appId));
  }
}
