import { type Etcd3, keys } from '@nap/common';

/** What a developer may hold at once. Instances and memory count started apps only, as in Cloud Foundry. */
export interface Quota {
  apps: number;
  instances: number;
  memory_mb: number;
}

export interface QuotaRecord extends Quota {
  set_by: string;
  set_at: string;
}

/** Quotas an admin set, one JSON document per user under keys.quota(name). */
export class QuotasRepository {
  constructor(private readonly etcd: Etcd3) {}

  async get(user: string): Promise<QuotaRecord | null> {
    const raw = await this.etcd.get(keys.quota(user)).string();
    return raw === null ? null : (JSON.parse(raw) as QuotaRecord);
  }

  async put(user: string, record: QuotaRecord): Promise<void> {
    await this.etcd.put(keys.quota(user)).value(JSON.stringify(record));
  }
}
