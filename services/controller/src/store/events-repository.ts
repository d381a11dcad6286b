import { randomBytes } from 'node:crypto';
import { type Etcd3, keys, type Logger, readPrefix, readPrefixKeys } from '@nap/common';

export const eventTypes = ['created', 'updated', 'staged', 'staging_failed', 'started', 'stopped', 'crashed', 'scaled', 'deleted', 'placement_failed', 'task_started', 'cron_missed', 'drain_dropped', 'ssh', 'certificate_issued', 'certificate_failed', 'certificate_expiring'] as const;
export type EventType = (typeof eventTypes)[number];

export interface AppEvent {
  time: string;
  type: EventType;
  actor: string;
  detail: Record<string, unknown>;
}

/** The copy of an app's newest event keeps its detail only up to this size (a staging error can be long). */
const LATEST_DETAIL_CHARS = 512;
/** Copies are at most ~700 bytes: a thousand of them are one etcd answer well under its 4 MiB. */
const LATEST_PAGE_KEYS = 1_000;

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

  /**
   * Events as keys and values, for a transaction that writes them with the change they record
   * (apps/lifecycle.ts), and the copy of the newest of them that the app list reads.
   */
  entries(appId: string, actor: string, events: [EventType, Record<string, unknown>][], now = Date.now()): [string, string][] {
    const puts = events.map(([type, detail]): [string, string] => {
      const id = `${String(now).padStart(15, '0')}-${randomBytes(4).toString('hex')}`;
      const event: AppEvent = { time: new Date(now).toISOString(), type, actor, detail };
      return [keys.event(appId, id), JSON.stringify(event)];
    });
    const newest = events.at(-1);
    if (!newest) return puts;
    // The copy stays small, so that a page of a thousand of them is one read (LATEST_PAGE_KEYS).
    const detail = JSON.stringify(newest[1]).length <= LATEST_DETAIL_CHARS ? newest[1] : {};
    const copy: AppEvent = { time: new Date(now).toISOString(), type: newest[0], actor, detail };
    return [...puts, [keys.latestEvent(appId), JSON.stringify(copy)]];
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
    try {
      await Promise.all(this.entries(appId, actor, [[type, detail]]).map(([key, value]) => this.etcd.put(key).value(value)));
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

  /** Each app's newest event, by app id; an app whose history predates the copy has none. */
  async latestOfAll(): Promise<Map<string, AppEvent>> {
    const all = await readPrefix(this.etcd, keys.latestEvents(), LATEST_PAGE_KEYS);
    const latest = new Map<string, AppEvent>();
    for (const [key, raw] of Object.entries(all)) {
      const event = parseEvent(raw);
      if (event) latest.set(key.slice(keys.latestEvents().length), event);
    }
    return latest;
  }

  async latest(appId: string): Promise<AppEvent | null> {
    const raw = await this.etcd.get(keys.latestEvent(appId)).string();
    return raw === null ? null : parseEvent(raw);
  }

  async deleteAll(appId: string): Promise<void> {
    await this.etcd.delete().prefix(keys.events(appId));
    await this.etcd.delete().key(keys.latestEvent(appId));
  }
}

function parseEvent(raw: string): AppEvent | null {
  try {
    return JSON.parse(raw) as AppEvent;
  } catch {
    return null;
  }
}
