import { type Blobstore, type Etcd3, keys, readPrefix, APP_RECORDS_PER_PAGE } from '@nap/common';
import type { AppRecord } from './app-record.js';

/** What a release pins: the code (droplet, and the package it came from) and the configuration. */
export interface Release {
  version: number;
  created_at: string;
  actor: string;
  description: string;
  droplet: NonNullable<AppRecord['droplet']>;
  package: AppRecord['package'];
  config: Pick<AppRecord, 'command' | 'memory_mb' | 'disk_mb' | 'env' | 'routes' | 'health_check' | 'buildpack'> & {
    /** Commands and memory of the other process types; their instance counts are scale, which a rollback keeps. */
    processes?: Record<string, { command: string | null; memory_mb: number | null }>;
  };
}

type Staged = AppRecord & { droplet: NonNullable<AppRecord['droplet']> };

/** What release `version` of the app as it is now pins. */
function releaseOf(app: Staged, version: number, actor: string, description: string): Release {
  return {
    version,
    created_at: new Date().toISOString(),
    actor,
    // A release copies the app's configuration (at most MAX_APP_RECORD_BYTES): its description stays short beside it.
    description: description.length > 1024 ? `${description.slice(0, 1021)}...` : description,
    droplet: app.droplet,
    package: app.package,
    config: {
      command: app.command,
      memory_mb: app.memory_mb,
      disk_mb: app.disk_mb,
      env: app.env,
      routes: app.routes,
      health_check: app.health_check,
      buildpack: app.buildpack,
      processes: Object.fromEntries(Object.entries(app.processes ?? {}).map(([type, p]) => [type, { command: p.command, memory_mb: p.memory_mb }])),
    },
  };
}

/**
 * Numbered releases per app in etcd (Heroku's v1, v2, …): one per staging and per change of what
 * runs. Each is written in the transaction of the change it records, on the condition that its
 * number is still free, so two writers never share one.
 */
export class ReleasesRepository {
  constructor(
    private readonly etcd: Etcd3,
    private readonly blobs: Blobstore,
    private readonly kept: number,
  ) {}

  /** The number the app's next release takes (a transaction writing it checks that it is still free). */
  async nextVersion(appId: string): Promise<number> {
    const [latest] = await this.etcd.getAll().prefix(keys.releases(appId)).sort('Key', 'Descend').limit(1).keys();
    return latest ? Number(latest.slice(keys.releases(appId).length)) + 1 : 1;
  }

  /** Release `version` of the app as it is now, as a key and value for the transaction that makes it (apps/lifecycle.ts). */
  entry(app: Staged, version: number, actor: string, description: string): [string, string] {
    return [keys.release(app.id, version), JSON.stringify(releaseOf(app, version, actor, description))];
  }

  /** Newest first. */
  async list(appId: string): Promise<Release[]> {
    const all = await readPrefix(this.etcd, keys.releases(appId), APP_RECORDS_PER_PAGE);
    return Object.entries(all)
      .sort(([a], [b]) => (a < b ? 1 : -1))
      .map(([, raw]) => JSON.parse(raw) as Release);
  }

  async get(appId: string, version: number): Promise<Release | null> {
    const raw = await this.etcd.get(keys.release(appId, version)).string();
    return raw ? (JSON.parse(raw) as Release) : null;
  }

  /**
   * Droplets and packages of this app that neither the app, another app (similar apps share) nor
   * one of the last `kept` releases uses leave the blobstore.
   */
  async prune(app: AppRecord, allApps: AppRecord[]): Promise<number> {
    const keep = new Set<string>();
    for (const a of allApps) for (const k of [a.droplet?.key, a.package?.key]) if (k) keep.add(k);
    for (const r of (await this.list(app.id)).slice(0, this.kept)) for (const k of [r.droplet.key, r.package?.key]) if (k) keep.add(k);
    let removed = 0;
    for (const key of [...(await this.blobs.list(`droplets/${app.id}/`)), ...(await this.blobs.list(`packages/${app.id}/`))]) {
      if (keep.has(key)) continue;
      await this.blobs.delete(key);
      removed++;
    }
    return removed;
  }

  async deleteAll(appId: string): Promise<void> {
    await this.etcd.delete().prefix(keys.releases(appId));
  }
}
