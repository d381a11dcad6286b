import { type Etcd3, keys } from '@nap/common';

/** A private domain: only an admin makes one, and only its owners (and admins) claim hosts on it. */
export interface DomainRecord {
  name: string;
  owners: string[];
  created_at: string;
  created_by: string;
  /** Set while a DELETE checks for routes, so no claim can slip in between the check and the delete. */
  deleting?: boolean;
}

/** A domain as read, with the etcd revision a claim on it is made against. */
export interface DomainVersion {
  record: DomainRecord;
  modRevision: string;
}

/** Private domains in etcd, one key each (`/nap/domains/<name>`); the only writer of them. */
export class DomainsRepository {
  constructor(private readonly etcd: Etcd3) {}

  /** False when the name is taken. */
  async create(record: DomainRecord): Promise<boolean> {
    const key = keys.domain(record.name);
    const result = await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(record))).commit();
    return result.succeeded;
  }

  async get(name: string): Promise<DomainVersion | null> {
    const res = await this.etcd.get(keys.domain(name)).exec();
    const kv = res.kvs[0];
    return kv ? { record: JSON.parse(kv.value.toString()) as DomainRecord, modRevision: kv.mod_revision } : null;
  }

  /** Every private domain with its revision (a deleting one included: claims on it fail their guard). */
  async list(): Promise<DomainVersion[]> {
    const res = await this.etcd.getAll().prefix(keys.domains()).exec();
    return res.kvs.map((kv) => ({ record: JSON.parse(kv.value.toString()) as DomainRecord, modRevision: kv.mod_revision }));
  }

  /** Writes `record` if the domain is still at `modRevision`; the new revision, or null when it changed meanwhile. */
  async replace(record: DomainRecord, modRevision: string): Promise<string | null> {
    const key = keys.domain(record.name);
    const result = await this.etcd.if(key, 'Mod', '==', modRevision).then(this.etcd.put(key).value(JSON.stringify(record))).commit();
    return result.succeeded ? result.header.revision : null;
  }

  /** Deletes the domain if it is still at `modRevision`. */
  async delete(name: string, modRevision: string): Promise<boolean> {
    const key = keys.domain(name);
    const result = await this.etcd.if(key, 'Mod', '==', modRevision).then(this.etcd.delete().key(key)).commit();
    return result.succeeded;
  }
}
