import { type Etcd3, keys, parseStored, readPrefix, ServiceRecord } from '@nap/common';

/** Service instances in etcd (`/nap/services/<name>`); the only writer of them. */
export class ServicesRepository {
  constructor(private readonly etcd: Etcd3) {}

  async list(): Promise<ServiceRecord[]> {
    return Object.values(await readPrefix(this.etcd, keys.services())).flatMap((v) => parseStored(ServiceRecord, v) ?? []);
  }

  async get(name: string): Promise<ServiceRecord | null> {
    return parseStored(ServiceRecord, await this.etcd.get(keys.service(name)).string());
  }

  /** False when the name is taken. */
  async create(record: ServiceRecord): Promise<boolean> {
    const key = keys.service(record.name);
    return (await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(record))).commit()).succeeded;
  }

  async delete(name: string): Promise<void> {
    await this.etcd.delete().key(keys.service(name));
  }
}
