import type { SnapshotEntry } from '@nap/common';

/** One instance this DEA holds: exactly what its snapshot records (libs/common/src/dea-snapshot.ts). */
export type Instance = SnapshotEntry;

export const isLive = (i: Instance) => i.state === 'STARTING' || i.state === 'RUNNING';
