import { keys, type Etcd3 } from '@nap/common';
import type { AppRecord } from '../apps/app-record.js';

/** Desired state of apps in etcd: one JSON document per app under keys.app(name). */
export class AppsRepository {
  constructor(private readonly etcd: Etcd3) {}

  async get(name: string): Promise<AppRecord | null> {
    const raw = await this.etcd.get(keys.app(name)).string();
    return raw === null ? null : (JSON.parse(raw) as AppRecord);
  }

  async list(): Promise<AppRecord[]> {
    const all = await this.etcd.getAll().prefix(keys.apps()).strings();
    return Object.values(all)
      .map((raw) => JSON.parse(raw) as AppRecord)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Creates the app only if the name is free; false when someone else got there first. */
  async create(app: AppRecord): Promise<boolean> {
    const key = keys.app(app.name);
    const result = await this.etcd
      .if(key, 'Create', '==', 0)
      .then(this.etcd.put(key).value(JSON.stringify(app)))
      .commit();
    return result.succeeded;
  }

  async save(app: AppRecord): Promise<void> {
    app.updated_at = new Date().toISOString();
    await this.etcd.put(keys.app(app.name)).value(JSON.stringify(app));
  }

  async delete(name: string): Promise<void> {
    await this.etcd.delete().key(keys.app(name));
  }
}
