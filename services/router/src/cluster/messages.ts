import type { ProcessReport } from '../status/varz.js';

/** What a worker tells the primary over the cluster's IPC channel. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'report'; report: ProcessReport }
  | { type: 'routes'; requestId: number; json: string };

/** What the primary asks of a worker. */
export type PrimaryMessage = { type: 'routes'; requestId: number };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

/** Per-process share of a router-wide limit: each worker enforces its part. */
export function share(total: number, workers: number): number {
  return Math.max(1, Math.ceil(total / workers));
}

/** Set by the primary for its workers (internal, not a setting). */
export const clusterIdVariable = 'NAP_ROUTER_CLUSTER_ID';
export const workerIndexVariable = 'NAP_ROUTER_WORKER_INDEX';
