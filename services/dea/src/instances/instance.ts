import type { msg } from '@nap/common';

export interface Instance {
  start: msg.DeaStart;
  state: msg.InstanceState;
  stateTimestamp: number;
  dir: string;
  port: number | null;
  containerId: string | null;
  startedAt: number | null;
  exitStatus: number | null;
  exitDescription: string | null;
  /** Being replaced elsewhere before this DEA stops: recorded as STOPPING while it still serves. */
  evacuating?: boolean;
}

export const isLive = (i: Instance) => i.state === 'STARTING' || i.state === 'RUNNING';
