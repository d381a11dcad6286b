import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotEntryHead } from '@nap/common';

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
 * Writes a snapshot shaped like the DEA's (libs/common/src/dea-snapshot.ts; the part the directory
 * reads is typed by the same schema), the way it writes it: to a temporary file, then renamed into place.
 */
export async function writeSnapshot(deaDir: string, instances: SnapshotFixtureInstance[]): Promise<void> {
  const now = Date.now();
  const body = {
    written_at: now,
    instances: instances.map((i) => {
      const head: SnapshotEntryHead = { start: { instance_id: i.id }, state: i.state ?? 'RUNNING', dir: i.dir ?? join(deaDir, 'instances', i.id) };
      return {
        ...head,
        start: { ...head.start, app_id: `app-of-${i.id}`, app_name: `app-of-${i.id}`, index: i.index ?? 0 },
        stateTimestamp: now,
        port: 61000 + (i.index ?? 0),
        containerId: `container-${i.id}`,
        startedAt: now,
        exitStatus: i.state === 'CRASHED' ? 137 : null,
        exitDescription: i.state === 'CRASHED' ? 'out of memory' : null,
      };
    }),
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
