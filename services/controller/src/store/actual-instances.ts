import { ActualInstanceRecord, type Etcd3, keys, type Logger, readPrefix } from '@nap/common';
import { z } from 'zod';

export type ActualInstance = ActualInstanceRecord;

const Usage = z.object({ mem_bytes: z.number().nonnegative().nullable(), cpu: z.number().nonnegative().nullable() });

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/** Actual state as the DEAs wrote it to etcd. */
export class ActualInstancesRepository {
  constructor(
    private readonly etcd: Etcd3,
    private readonly log: Logger,
  ) {}

  /** The app's instances, with the memory and CPU their DEAs last sampled (keys.usage). */
  async ofApp(appId: string): Promise<ActualInstance[]> {
    const [records, usage] = await Promise.all([readPrefix(this.etcd, keys.actualInstancesOf(appId)), readPrefix(this.etcd, keys.usageOf(appId))]);
    return this.parse(records).map((r) => {
      const raw = usage[keys.usage(appId, r.instance_id)];
      if (raw === undefined || r.state !== 'RUNNING') return r;
      const figures = Usage.safeParse(safeJson(raw));
      return figures.success ? { ...r, mem_bytes: figures.data.mem_bytes, cpu: figures.data.cpu } : r;
    });
  }

  /** Every app's instances in one read, by app id: listing 1,000 apps must not be 1,000 reads. */
  async byApp(): Promise<Map<string, ActualInstance[]>> {
    const byApp = new Map<string, ActualInstance[]>();
    for (const r of this.parse(await readPrefix(this.etcd, keys.actualInstances()))) {
      const list = byApp.get(r.app_id) ?? [];
      list.push(r);
      byApp.set(r.app_id, list);
    }
    return byApp;
  }

  private parse(all: Record<string, string>): ActualInstance[] {
    const records: ActualInstance[] = [];
    for (const [key, raw] of Object.entries(all)) {
      let parsed: ReturnType<typeof ActualInstanceRecord.safeParse>;
      try {
        parsed = ActualInstanceRecord.safeParse(JSON.parse(raw));
      } catch {
        parsed = ActualInstanceRecord.safeParse(undefined);
      }
      if (parsed.success) records.push(parsed.data);
      else this.log.warn({ key }, 'skipped a malformed instance record in etcd');
    }
    return records.sort((a, b) => a.index - b.index || a.since - b.since);
  }
}
