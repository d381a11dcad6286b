import { type Etcd3, keys, readPrefix } from '@nap/common';

/** An admin buildpack: from git (`url`, `ref`) or an uploaded archive (`hash`, `blob_key`). */
export interface BuildpackRecord {
  name: string;
  kind: 'git' | 'archive';
  url: string | null;
  ref: string | null;
  hash: string | null;
  blob_key: string | null;
  /** Detection order among the admin buildpacks (after the built-in ones): lowest first. */
  position: number;
  created_at: string;
  created_by: string;
  updated_at: string;
}

/** Admin buildpacks in etcd, one key each under /nap/buildpacks/. */
export class BuildpacksRepository {
  constructor(private readonly etcd: Etcd3) {}

  /** False when the name is taken. */
  async create(record: BuildpackRecord): Promise<boolean> {
    const key = keys.buildpack(record.name);
    const result = await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(record))).commit();
    return result.succeeded;
  }

  async put(record: BuildpackRecord): Promise<void> {
    await this.etcd.put(keys.buildpack(record.name)).value(JSON.stringify(record));
  }

  async get(name: string): Promise<BuildpackRecord | null> {
    const raw = await this.etcd.get(keys.buildpack(name)).string();
    return raw ? (JSON.parse(raw) as BuildpackRecord) : null;
  }

  /** In detection order. */
  async list(): Promise<BuildpackRecord[]> {
    const all = await readPrefix(this.etcd, keys.buildpacks());
    return Object.values(all)
      .map((raw) => JSON.parse(raw) as BuildpackRecord)
      .sort((a, b) => a.position - b.position || a.created_at.localeCompare(b.created_at) || a.name.localeCompare(b.name));
  }

  async delete(name: string): Promise<boolean> {
    const result = await this.etcd.delete().key(keys.buildpack(name));
    return Number(result.deleted) > 0;
  }
}
