import { randomBytes } from 'node:crypto';
import { type Etcd3, keys, type Logger, readPrefix, readPrefixKeys } from '@nap/common';

export const eventTypes = ['created', 'updated', 'staged', 'staging_failed', 'started', 'stopped', 'crashed', 'scaled', 'deleted', 'placement_failed'] as const;
export type EventType = (typeof eventTypes)[number];

export interface AppEvent {
  time: string;
  type: EventType;
  actor: string;
  detail: Record<string, unknown>;
}

/** Events kept per app; older ones are dropped so a crash-looping app cannot grow etcd without end. */
export const EVENTS_KEPT = 200;

/**
 * An app's history in etcd, one key per event. Keys sort by time (zero-padded milliseconds, then
 * a random tail so two events in the same millisecond both stay).
 */
export class EventsRepository {
  constructor(
    private readonly etcd: Etcd3,
    private readonly log: Logger,
  ) {}

  /** An event as a key and value, for a transaction that writes it with the change it records (apps/lifecycle.ts). */
  entry(appId: string, type: EventType, actor: string, detail: Record<string, unknown> = {}, now = Date.now()): [string, string] {
    const id = `${String(now).padStart(15, '0')}-${randomBytes(4).toString('hex')}`;
    const event: AppEvent = { time: new Date(now).toISOString(), type, actor, detail };
    return [keys.event(appId, id), JSON.stringify(event)];
  }

  /** Only the newest EVENTS_KEPT stay: a crash-looping app cannot grow etcd without end. */
  async trim(appId: string): Promise<void> {
    try {
      const all = await readPrefixKeys(this.etcd, keys.events(appId));
      if (all.length <= EVENTS_KEPT) return;
      const oldest = all.sort().slice(0, all.length - EVENTS_KEPT);
      await Promise.all(oldest.map((k) => this.etcd.delete().key(k)));
    } catch (err) {
      this.log.warn({ err, app_id: appId }, 'could not trim old events');
    }
  }

  /** Never fails the operation it records: a lost event is logged, the user's request still succeeds. */
  async record(appId: string, type: EventType, actor: string, detail: Record<string, unknown> = {}): Promise<void> {
    const [key, value] = this.entry(appId, type, actor, detail);
    try {
      await this.etcd.put(key).value(value);
    } catch (err) {
      this.log.warn({ err, app_id: appId, type }, 'could not record an event');
      return;
    }
    await this.trim(appId);
  }

  /** Newest first. */
  async list(appId: string, limit = EVENTS_KEPT): Promise<AppEvent[]> {
    const all = await readPrefix(this.etcd, keys.events(appId));
    return Object.entries(all)
      .sort(([a], [b]) => (a < b ? 1 : -1))
      .slice(0, limit)
      .map(([, raw]) => JSON.parse(raw) as AppEvent);
  }

  async deleteAll(appId: string): Promise<void> {
    await this.etcd.delete().prefix(keys.events(appId));
  }
}
