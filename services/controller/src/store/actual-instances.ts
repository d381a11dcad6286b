import { keys, type Etcd3, msg } from '@nap/common';

/** What a DEA says about one of its instances; written by the DEA under its lease. */
export interface ActualInstance {
  app_id: string;
  app_name: string;
  version: string;
  index: number;
  instance_id: string;
  state: msg.InstanceState;
  host: string;
  port: number;
  dea_id: string;
  since: number;
  started_at: number | null;
  exit_status: number | null;
  exit_description: string | null;
  mem_bytes: number | null;
  cpu: number | null;
}

export class ActualInstancesRepository {
  constructor(private readonly etcd: Etcd3) {}

  async ofApp(appId: string): Promise<ActualInstance[]> {
    const all = await this.etcd.getAll().prefix(keys.actualInstancesOf(appId)).strings();
    return Object.values(all)
      .map((raw) => JSON.parse(raw) as ActualInstance)
      .sort((a, b) => a.index - b.index || a.since - b.since);
  }
}
