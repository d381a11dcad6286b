import { conflict, keys, type Etcd3 } from '@nap/common';

const UPDATE_ATTEMPTS = 10;
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

  /**
   * Read, change, write, as one step: the write only lands if nobody wrote the app in between
   * (etcd's mod revision), else the change is applied again to what is there now. So two
   * controllers, or a scale during a staging, never silently undo each other. `mutate` returns
   * false to leave the app as it is. Null when there is no such app.
   */
  async update(name: string, mutate: (app: AppRecord) => boolean | void | Promise<boolean | void>): Promise<AppRecord | null> {
    const key = keys.app(name);
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const found = (await this.etcd.get(key).exec()).kvs[0];
      if (!found) return null;
      const app = JSON.parse(found.value.toString()) as AppRecord;
      if ((await mutate(app)) === false) return app;
      app.updated_at = new Date().toISOString();
      const written = await this.etcd
        .if(key, 'Mod', '==', found.mod_revision)
        .then(this.etcd.put(key).value(JSON.stringify(app)))
        .commit();
      if (written.succeeded) return app;
    }
    throw conflict('app_busy', `app ${name} is being changed by others right now: try again`);
  }

  async delete(name: string): Promise<void> {
    await this.etcd.delete().key(keys.app(name));
  }
}
