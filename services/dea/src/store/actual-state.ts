import { type ActualInstanceRecord, Backoff, retry, type Etcd3, keys, type Logger, readPrefix, readPrefixKeys, RepeatedFailureLog } from '@nap/common';
import type { Lease } from 'etcd3';

/** A DEA's word on one instance; the controller reads these to see what runs where. */
export type InstanceRecord = ActualInstanceRecord;

/**
 * Seconds without this DEA's keep-alive before etcd drops its records and its instances count as
 * gone. Short, because it bounds how fast a lost node's instances are replaced; a restarted DEA
 * is back well within it (about 1 s) and so keeps its instances.
 */
const LEASE_TTL_S = 3;
/** Between tries of a new lease while etcd is away: back within a second or two of its return. */
const RETRY = { minMs: 250, maxMs: 2_000 };
const LEASE_LOST = 'etcd lease lost; re-registering instances';
const REFILL_FAILED = 'could not re-register instances under the new lease; trying again';

/**
 * Actual state in etcd, all under one lease of this DEA's: when the DEA dies the lease expires and
 * its records vanish with it. A lost lease (etcd was unreachable too long) is re-made and refilled.
 */
export class ActualStateStore {
  private lease: Lease;
  private readonly records = new Map<string, InstanceRecord>();
  private deaInfo: Record<string, unknown>;
  private readonly backoff = new Backoff(RETRY);
  private readonly failures: RepeatedFailureLog;
  private renewTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly etcd: Etcd3,
    private readonly deaId: string,
    private readonly log: Logger,
  ) {
    this.failures = new RepeatedFailureLog(log);
    this.deaInfo = { id: deaId };
    this.lease = this.newLease();
  }

  /**
   * A lease etcd lost (or never granted, while it is away) is replaced after a back-off, never at
   * once: a lease made while etcd is down is lost at once, and replacing it at once again was a
   * tight loop that wrote hundreds of MB of log.
   */
  private newLease(): Lease {
    const lease = this.etcd.lease(LEASE_TTL_S);
    lease.on('lost', (err) => {
      if (lease !== this.lease || this.closed) return;
      const wait = this.backoff.next();
      this.failures.failed(LEASE_LOST, err, { instances: this.records.size, retry_in_ms: wait });
      this.renewTimer = setTimeout(() => {
        this.renewTimer = null;
        if (this.closed) return;
        this.lease = this.newLease();
        void this.refill(this.lease);
      }, wait);
      this.renewTimer.unref();
    });
    return lease;
  }

  /**
   * The DEA's own record and every instance's, again under a new lease, until they are all written
   * or the lease is lost too (then the next lease starts over). A lease can be granted and its puts
   * still fail (etcd just back, its auth token not yet renewed): they are tried again.
   */
  private async refill(lease: Lease): Promise<void> {
    const current = () => lease === this.lease && !this.closed;
    const signal = new AbortController();
    lease.once('lost', () => signal.abort());
    try {
      await retry(
        async () => {
          if (!current()) return;
          await lease.put(keys.dea(this.deaId)).value(JSON.stringify({ ...this.deaInfo, since: Date.now() }));
          for (const r of this.records.values()) if (current()) await lease.put(keys.actualInstance(r.app_id, r.instance_id)).value(JSON.stringify(r));
        },
        {
          backoff: new Backoff(RETRY),
          signal: signal.signal,
          onFailure: (err, wait) => this.failures.failed(REFILL_FAILED, err, { retry_in_ms: wait }),
        },
      );
    } catch {
      return; // the lease was lost meanwhile: its replacement refills
    }
    if (!current()) return;
    this.backoff.reset();
    this.failures.recovered(REFILL_FAILED, 'instances re-registered after a failed try');
    this.failures.recovered(LEASE_LOST, 'etcd lease re-made; instances re-registered', { instances: this.records.size });
  }

  async open(deaInfo: Record<string, unknown>): Promise<void> {
    this.deaInfo = deaInfo;
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
    await this.etcd.delete().key(keys.usage(appId, instanceId));
  }

  /** An instance's sampled usage, under the lease: a dead DEA's figures vanish with it. */
  async putUsage(appId: string, instanceId: string, usage: { mem_bytes: number | null; cpu: number | null; at: number }): Promise<void> {
    if (!this.records.has(instanceId)) return;
    await this.lease.put(keys.usage(appId, instanceId)).value(JSON.stringify(usage));
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
    this.closed = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    await this.lease.revoke().catch(() => {});
  }
}
