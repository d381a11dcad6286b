import { APP_RECORDS_PER_PAGE, conflict, type Etcd3, keys, type Logger, MAX_APP_RECORD_BYTES, NapError, readPrefixRevisions, readPrefixWithRevisions } from '@nap/common';

const UPDATE_ATTEMPTS = 10;
import { type AppRecord, parseAppRecord } from '../apps/app-record.js';

/** An app's record past MAX_APP_RECORD_BYTES: refused, so a page of app records stays under etcd's receive limit. */
function serialized(app: AppRecord): string {
  const json = JSON.stringify(app);
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_APP_RECORD_BYTES) {
    throw new NapError(413, 'app_too_large', `app ${app.name} would hold ${Math.ceil(bytes / 1024)} KB of settings (at most ${MAX_APP_RECORD_BYTES / 1024} KB): use fewer or shorter routes, env values or commands`);
  }
  return json;
}

/** Desired state of apps in etcd: one JSON document per app under keys.app(name). */
export class AppsRepository {
  /** Parsed records by key, with the mod revision they were read at (null: malformed, skipped). */
  private readonly known = new Map<string, { revision: string; app: AppRecord | null }>();

  constructor(
    private readonly etcd: Etcd3,
    private readonly log?: Logger,
  ) {}

  /** A record that does not have the shape nap writes is logged and treated as absent, never used. */
  private parse(key: string, raw: string): AppRecord | null {
    const app = parseAppRecord(raw);
    if (!app) this.log?.warn({ key }, 'skipped a malformed app record in etcd');
    return app;
  }

  async get(name: string): Promise<AppRecord | null> {
    const raw = await this.etcd.get(keys.app(name)).string();
    return raw === null ? null : this.parse(keys.app(name), raw);
  }

  /**
   * Every app. The records are remembered by mod revision, and a list reads only the keys and
   * revisions, then the records that changed since: so listing costs in proportion to the number
   * of apps, not to what they weigh (another developer's apps at every field limit are 250 KB each).
   * `keep` picks the apps wanted before they are copied out.
   */
  async list(keep: (app: AppRecord) => boolean = () => true): Promise<AppRecord[]> {
    const revisions = await readPrefixRevisions(this.etcd, keys.apps());
    for (const key of this.known.keys()) if (!revisions.has(key)) this.known.delete(key);
    const stale = [...revisions].filter(([key, revision]) => this.known.get(key)?.revision !== revision).map(([key]) => key);
    if (stale.length > APP_RECORDS_PER_PAGE) {
      for (const [key, { value, revision }] of await readPrefixWithRevisions(this.etcd, keys.apps(), APP_RECORDS_PER_PAGE)) {
        if (this.known.get(key)?.revision !== revision) this.known.set(key, { revision, app: this.parse(key, value) });
      }
    } else {
      await Promise.all(
        stale.map(async (key) => {
          const found = (await this.etcd.get(key).exec()).kvs[0];
          if (found) this.known.set(key, { revision: String(found.mod_revision), app: this.parse(key, found.value.toString()) });
        }),
      );
    }
    return [...revisions.keys()]
      .map((key) => this.known.get(key)?.app ?? null)
      .filter((a): a is AppRecord => a !== null && keep(a))
      // Callers change what they are given; the remembered record stays as etcd has it.
      .map((a) => structuredClone(a))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Creates the app only if the name is free; false when someone else got there first. */
  async create(app: AppRecord): Promise<boolean> {
    const key = keys.app(app.name);
    const result = await this.etcd
      .if(key, 'Create', '==', 0)
      .then(this.etcd.put(key).value(serialized(app)))
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
      const app = this.parse(key, found.value.toString());
      if (!app) return null;
      if ((await mutate(app)) === false) return app;
      app.updated_at = new Date().toISOString();
      const written = await this.etcd
        .if(key, 'Mod', '==', found.mod_revision)
        .then(this.etcd.put(key).value(serialized(app)))
        .commit();
      if (written.succeeded) return app;
    }
    throw conflict('app_busy', `app ${name} is being changed by others right now: try again`);
  }

  async delete(name: string): Promise<void> {
    await this.etcd.delete().key(keys.app(name));
  }
}
