import { type Bus, channels, type Etcd3, keys, type Logger, parseDrainUrl, readPrefix } from '@nap/common';
import { z } from 'zod';
import { DrainSender } from './drain-sender.js';
import { syslogFrame } from './syslog-frame.js';

/** How often the drains of every app are read again from etcd: a new drain gets lines within this. */
const RELOAD_MS = 5_000;
/** A line longer than this is cut (and sent in pieces): nothing unbounded is held per instance. */
const MAX_LINE_CHARS = 64 * 1024;

const DrainRecords = z.array(z.object({ url: z.string(), admin: z.boolean() })).max(10);

/** Where an output stream's bytes come from, for the drain's header. */
export interface OutputSource {
  appId: string;
  appName: string;
  /** web.0, worker.1, task.3 */
  source: string;
}

/**
 * The DEA's side of log drains (issue 16): every line an instance or a task writes, split per
 * stream, goes to each drain its app has (keys.drains, which the controller writes and this reads
 * every few seconds), through one DrainSender per app and drain. Dropped lines are reported on the
 * bus (drain.dropped) for the controller to record as an event.
 */
export class Drains {
  private readonly byApp = new Map<string, { url: string; admin: boolean }[]>();
  private readonly senders = new Map<string, DrainSender>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: { etcd: Etcd3; bus: Bus; deaId: string; log: Logger }) {}

  async start(): Promise<void> {
    await this.reload().catch((err: Error) => this.deps.log.warn({ err: err.message }, 'could not read the log drains; trying again'));
    this.timer = setInterval(() => void this.reload().catch(() => {}), RELOAD_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.senders.values()) s.close();
    this.senders.clear();
  }

  private async reload(): Promise<void> {
    const all = await readPrefix(this.deps.etcd, keys.allDrains());
    const wanted = new Set<string>();
    this.byApp.clear();
    for (const [key, raw] of Object.entries(all)) {
      const appId = key.slice(keys.allDrains().length);
      let parsed;
      try {
        parsed = DrainRecords.safeParse(JSON.parse(raw));
      } catch {
        continue;
      }
      if (!parsed.success) continue;
      const usable = parsed.data.filter((d) => {
        try {
          parseDrainUrl(d.url);
          return true;
        } catch {
          return false;
        }
      });
      this.byApp.set(appId, usable);
      for (const d of usable) wanted.add(`${appId} ${d.url}`);
    }
    // A drain removed (or its app deleted): its sender and queue go.
    for (const [id, sender] of this.senders) {
      if (!wanted.has(id)) {
        sender.close();
        this.senders.delete(id);
      }
    }
  }

  /** A tap for one output of one instance or task: bytes in, whole lines out to the app's drains. */
  tap(from: OutputSource): (stream: 'stdout' | 'stderr', chunk: Buffer) => void {
    const rest = { stdout: '', stderr: '' };
    return (stream, chunk) => {
      if (!this.byApp.get(from.appId)?.length) return;
      const parts = (rest[stream] + chunk.toString('utf8')).split('\n');
      rest[stream] = parts.pop() ?? '';
      if (rest[stream].length > MAX_LINE_CHARS) {
        parts.push(rest[stream]);
        rest[stream] = '';
      }
      const at = new Date();
      for (const text of parts) this.line(from, stream, text.replace(/\r$/, ''), at);
    };
  }

  private line(from: OutputSource, stream: 'stdout' | 'stderr', text: string, at: Date): void {
    const drains = this.byApp.get(from.appId);
    if (!drains) return;
    const frame = syslogFrame({ appName: from.appName, source: from.source, stream, text: text.slice(0, MAX_LINE_CHARS), at });
    for (const d of drains) this.sender(from.appId, d).send(frame);
  }

  private sender(appId: string, drain: { url: string; admin: boolean }): DrainSender {
    const id = `${appId} ${drain.url}`;
    let sender = this.senders.get(id);
    if (!sender) {
      sender = new DrainSender({
        target: parseDrainUrl(drain.url),
        anyAddress: drain.admin,
        log: this.deps.log,
        dropped: (dropped) => this.deps.bus.publish(channels.drainDropped, { app_id: appId, drain: drain.url, dropped, dea_id: this.deps.deaId }),
      });
      this.senders.set(id, sender);
    }
    return sender;
  }
}
