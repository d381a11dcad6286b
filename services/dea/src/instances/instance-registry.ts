import { readFile, rename, writeFile } from 'node:fs/promises';
import { readSnapshot, SnapshotEntry, snapshotText } from '@nap/common';
import { type Instance, isLive } from './instance.js';

/** This DEA's instances, in memory and in a snapshot file so a restarted DEA knows what it ran. */
export class InstanceRegistry {
  private readonly instances = new Map<string, Instance>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly snapshotFile: string) {}

  add(instance: Instance): void {
    this.instances.set(instance.start.instance_id, instance);
    this.snapshot();
  }

  get(instanceId: string): Instance | undefined {
    return this.instances.get(instanceId);
  }

  delete(instanceId: string): void {
    this.instances.delete(instanceId);
    this.snapshot();
  }

  all(): Instance[] {
    return [...this.instances.values()];
  }

  live(): Instance[] {
    return this.all().filter(isLive);
  }

  reservedMemoryMb(): number {
    return this.live().reduce((sum, i) => sum + i.start.limits.memory_mb, 0);
  }

  reservedDiskMb(): number {
    return this.live().reduce((sum, i) => sum + i.start.limits.disk_mb, 0);
  }

  countsByApp(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const i of this.live()) counts[i.start.app_id] = (counts[i.start.app_id] ?? 0) + 1;
    return counts;
  }

  /** What the previous run of this DEA left in its snapshot; nothing when there is none or it is unreadable. */
  async previous(): Promise<Instance[]> {
    // Through the schema, so that a snapshot from an older nap gets today's defaults (process_type, droplet_type).
    const read = readSnapshot(await readFile(this.snapshotFile, 'utf8').catch(() => ''), SnapshotEntry);
    return typeof read === 'string' ? [] : read.entries;
  }

  /** Writes are queued so an older snapshot never overwrites a newer one. */
  snapshot(): Promise<void> {
    const body = snapshotText(this.all());
    this.writing = this.writing.then(async () => {
      const tmp = `${this.snapshotFile}.tmp`;
      await writeFile(tmp, body);
      await rename(tmp, this.snapshotFile);
    }).catch(() => {});
    return this.writing;
  }
}
