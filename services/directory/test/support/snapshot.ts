import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** An instance as the DEA's InstanceRegistry writes it into `${deaDir}/snapshot.json`. */
export interface SnapshotFixtureInstance {
  id: string;
  /** Absolute directory; defaults to `${deaDir}/instances/${id}` as the DEA's InstanceManager makes it. */
  dir?: string;
  state?: 'STARTING' | 'RUNNING' | 'CRASHED' | 'STOPPING' | 'STOPPED';
  index?: number;
}

let writes = 0;

/**
 * Writes a snapshot shaped like the DEA's (services/dea/src/instances/instance-registry.ts), the
 * way it writes it: to a temporary file, then renamed into place.
 */
export async function writeSnapshot(deaDir: string, instances: SnapshotFixtureInstance[]): Promise<void> {
  const now = Date.now();
  const body = {
    written_at: now,
    instances: instances.map((i) => ({
      start: {
        instance_id: i.id,
        app_id: `app-of-${i.id}`,
        app_name: `app-of-${i.id}`,
        index: i.index ?? 0,
        droplet_sha1: '0'.repeat(40),
        limits: { memory_mb: 256, disk_mb: 1024 },
      },
      state: i.state ?? 'RUNNING',
      stateTimestamp: now,
      dir: i.dir ?? join(deaDir, 'instances', i.id),
      port: 61000 + (i.index ?? 0),
      containerId: `container-${i.id}`,
      startedAt: now,
      exitStatus: i.state === 'CRASHED' ? 137 : null,
      exitDescription: i.state === 'CRASHED' ? 'out of memory' : null,
    })),
  };
  const file = join(deaDir, 'snapshot.json');
  const tmp = `${file}.tmp${writes++}`;
  await writeFile(tmp, JSON.stringify(body, null, 1));
  await rename(tmp, file);
}

/** Writes raw text as the snapshot (atomically), for unparsable snapshots. */
export async function writeRawSnapshot(deaDir: string, text: string): Promise<void> {
  const file = join(deaDir, 'snapshot.json');
  const tmp = `${file}.tmp${writes++}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}
