import { conflict, type Etcd3, keys, type Logger, MAX_APP_RECORD_BYTES, NapError, readPrefixRevisions } from '@nap/common';

const UPDATE_ATTEMPTS = 10;
/** Changed app records read at once by a list. */
const STALE_READS = 32;
import { type AppRecord, parseAppRecord } from './app-record.js';

/** An app's record past MAX_APP_RECORD_BYTES: refused, so a page of app records stays under etcd's receive limit. */
function serialized(app: AppRecord): string {
  const json = JSON.stringify(app);
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_APP_RECORD_BYTES) {
    throw new NapError(413, 'app_too_large', `app ${app.name} would hold ${Math.ceil(bytes / 1024)} KB of settings (at most ${MAX_APP_RECORD_BYTES / 1024} KB): use fewer or shorter routes, env values or commands`);
  }
  return json;
}

/**
 * What a change writes beside the app record, in the same etcd transaction (its events, its
 * release): all of it lands, or none. `absent` keys must not exist yet (a release's number).
 */
export interface AlongWith {
  absent?: string[];
  puts?: [key: string, value: string][];
}

/** Desired state of apps in etcd: one JSON document per app under keys.app(name). */
export class AppsRepository {
  /** Records by key: as read (`raw`) and parsed, at the mod revision they were read at (app null: malformed, skipped). */
  private readonly known = new Map<string, { revision: string; raw: string; app: AppRecord | null }>();

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
    // One get per changed record, STALE_READS at a time: a cold list of 1,000 apps is ~30 rounds,
    // not 84 pages one after another, and no answer carries more than one record.
    for (let i = 0; i < stale.length; i += STALE_READS) {
      await Promise.all(
        stale.slice(i, i + STALE_READS).map(async (key) => {
          const found = (await this.etcd.get(key).exec()).kvs[0];
          if (!found) return;
          const raw = found.value.toString();
          this.known.set(key, { revision: String(found.mod_revision), raw, app: this.parse(key, raw) });
        }),
      );
    }
    const kept: AppRecord[] = [];
    for (const key of revisions.keys()) {
      const entry = this.known.get(key);
      // Callers change what they are given: each gets its own copy, parsed again from what etcd
      // holds (faster than structuredClone), and only of the apps it keeps.
      if (entry?.app && keep(entry.app)) kept.push(JSON.parse(entry.raw) as AppRecord);
    }
    return kept.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Creates the app only if the name is free; false when someone else got there first. */
  async create(app: AppRecord, along: AlongWith = {}): Promise<boolean> {
    const key = keys.app(app.name);
    const result = await this.transaction(key, 'Create', 0, serialized(app), along).commit();
    return result.succeeded;
  }

  private transaction(key: string, field: 'Create' | 'Mod', expected: number | string, value: string, along: AlongWith) {
    let txn = this.etcd.if(key, field, '==', expected);
    for (const k of along.absent ?? []) txn = txn.and(k, 'Create', '==', 0);
    return txn.then(this.etcd.put(key).value(value), ...(along.puts ?? []).map(([k, v]) => this.etcd.put(k).value(v)));
  }

  /**
   * Read, change, write, as one step: the write only lands if nobody wrote the app in between
   * (etcd's mod revision), else the change is applied again to what is there now. So two
   * controllers, or a scale during a staging, never silently undo each other. `mutate` returns
   * false to leave the app as it is, or the records to write with it. Null when there is no such app.
   */
  async update(name: string, mutate: (app: AppRecord) => boolean | void | AlongWith | Promise<boolean | void | AlongWith>): Promise<AppRecord | null> {
    const key = keys.app(name);
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const found = (await this.etcd.get(key).exec()).kvs[0];
      if (!found) return null;
      const app = this.parse(key, found.value.toString());
      if (!app) return null;
      const along = await mutate(app);
      if (along === false) return app;
      app.updated_at = new Date().toISOString();
      const written = await this.transaction(key, 'Mod', found.mod_revision, serialized(app), typeof along === 'object' ? along : {}).commit();
      if (written.succeeded) return app;
    }
    throw conflict('app_busy', `app ${name} is being changed by others right now: try again`);
  }

  /**
   * The app's record and the route claims it holds go in one transaction: a delete cut short (the
   * controller killed, etcd gone) leaves both or neither, never hosts held by an app that is gone.
   * Claims someone else holds now are left alone. False when there was no such app.
   */
  async delete(name: string): Promise<boolean> {
    const key = keys.app(name);
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const found = (await this.etcd.get(key).exec()).kvs[0];
      if (!found) return false;
      const app = this.parse(key, found.value.toString());
      const hosts = app?.routes ?? [];
      const holders = await Promise.all(hosts.map((host) => this.etcd.get(keys.route(host)).string()));
      const held = hosts.filter((_, i) => holders[i] === app!.id);
      let txn = this.etcd.if(key, 'Mod', '==', found.mod_revision);
      for (const host of held) txn = txn.and(keys.route(host), 'Value', '==', app!.id);
      const done = await txn
        .then(this.etcd.delete().key(key), ...held.flatMap((host) => [this.etcd.delete().key(keys.route(host)), this.etcd.delete().key(keys.routeOption(host))]))
        .commit();
      if (done.succeeded) return true;
    }
    throw conflict('app_busy', `app ${name} is being changed by others right now: try again`);
  }
}
