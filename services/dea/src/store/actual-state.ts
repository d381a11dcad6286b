import { type ActualInstanceRecord, type Etcd3, keys, type Logger, readPrefix, readPrefixKeys } from '@nap/common';
import type { Lease } from 'etcd3';

/** A DEA's word on one instance; the controller reads these to see what runs where. */
export type InstanceRecord = ActualInstanceRecord;

/**
 * Seconds without this DEA's keep-alive before etcd drops its records and its instances count as
 * gone. Short, because it bounds how fast a lost node's instances are replaced; a restarted DEA
 * is back well within it (about 1 s) and so keeps its instances.
 */
const LEASE_TTL_S = 3;

/**
 * Actual state in etcd, all under one lease of this DEA's: when the DEA dies the lease expires and
 * its records vanish with it. A lost lease (etcd was unreachable too long) is re-made and refilled.
 */
export class ActualStateStore {
  private lease: Lease;
  private readonly records = new Map<string, InstanceRecord>();

  constructor(
    private readonly etcd: Etcd3,
    private readonly deaId: string,
    private readonly log: Logger,
  ) {
    this.lease = this.newLease();
  }

  private newLease(): Lease {
    const lease = this.etcd.lease(LEASE_TTL_S);
    lease.on('lost', (err) => {
      this.log.warn({ err: err.message }, 'etcd lease lost; re-registering instances');
      this.lease = this.newLease();
      void this.refill();
    });
    return lease;
  }

  private async refill(): Promise<void> {
    try {
      await this.lease.put(keys.dea(this.deaId)).value(JSON.stringify({ id: this.deaId, since: Date.now() }));
      for (const r of this.records.values()) await this.write(r);
    } catch (err) {
      this.log.warn({ err }, 'could not refill actual state');
    }
  }

  async open(deaInfo: Record<string, unknown>): Promise<void> {
    await this.lease.put(keys.dea(this.deaId)).value(JSON.stringify(deaInfo));
  }

  private async write(r: InstanceRecord): Promise<void> {
    await this.lease.put(keys.actualInstance(r.app_id, r.instance_id)).value(JSON.stringify(r));
  }

  async put(r: InstanceRecord): Promise<void> {
    this.records.set(r.instance_id, r);
    await this.write(r);
  }

  async remove(appId: string, instanceId: string): Promise<void> {
    this.records.delete(instanceId);
    await this.etcd.delete().key(keys.actualInstance(appId, instanceId));
  }

  /** How many other DEAs are alive (their leased records exist). */
  async otherDeas(): Promise<number> {
    const ids = await readPrefixKeys(this.etcd, keys.deas());
    return ids.filter((k) => k !== keys.dea(this.deaId)).length;
  }

  /** Whether another DEA runs this index of this version of the app (a replacement is ready). */
  async runningElsewhere(appId: string, version: string, index: number): Promise<boolean> {
    const all = await readPrefix(this.etcd, keys.actualInstancesOf(appId));
    return Object.values(all).some((raw) => {
      try {
        const r = JSON.parse(raw) as InstanceRecord;
        return r.dea_id !== this.deaId && r.index === index && r.version === version && r.state === 'RUNNING';
      } catch {
        return false;
      }
    });
  }

  async close(): Promise<void> {
    await this.lease.revoke().catch(() => {});
  }
}
