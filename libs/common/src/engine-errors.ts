import { GRPCDeadlineExceededError, GRPCResourceExhastedError, GRPCUnavailableError, isRecoverableError } from 'etcd3';
import { ErrorCode, NatsError } from 'nats';

/**
 * NATS errors that mean the server is away or slow, not that the request was wrong. (No responders
 * is NATS answering that nobody listens, e.g. no DEA: not NATS being away.)
 */
const NATS_AWAY = new Set<string>([
  ErrorCode.ConnectionClosed,
  ErrorCode.ConnectionDraining,
  ErrorCode.ConnectionRefused,
  ErrorCode.ConnectionTimeout,
  ErrorCode.Disconnect,
  ErrorCode.Timeout,
]);

/**
 * Which engine an error says is away (unreachable, restarting, overloaded, without a leader), or
 * null for any other error. The API answers these with 503 and Retry-After rather than 500: the
 * request was fine, and the same request a few seconds later will work.
 */
export function unavailableEngine(err: unknown): 'etcd' | 'NATS' | null {
  if (!(err instanceof Error)) return null;
  if (
    err instanceof GRPCUnavailableError ||
    err instanceof GRPCDeadlineExceededError ||
    err instanceof GRPCResourceExhastedError ||
    isRecoverableError(err) ||
    // etcd3's circuit breaker (cockatiel's), open after repeated failures to reach etcd
    (err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true
  ) {
    return 'etcd';
  }
  if (err instanceof NatsError && NATS_AWAY.has(err.code)) return 'NATS';
  return null;
}

/**
 * etcd's space quota is used up (its NOSPACE alarm is raised): it still answers reads but refuses
 * every write until an admin compacts, defragments and disarms the alarm. Not "away": waiting
 * does not help, so the API says so with 507 instead of 503.
 */
export function etcdSpaceExceeded(err: unknown): boolean {
  return err instanceof Error && /database space exceeded/.test(err.message);
}

/**
 * Where an upload goes has no room: JetStream answered "insufficient resources" (its store, or the
 * disk under it, is full) or "maximum bytes exceeded" (a bucket's own cap); or a file the
 * controller writes first met a full disk. Like etcd out of space, waiting does not help: 507.
 */
export function storageExhausted(err: unknown): 'blobstore' | 'disk' | null {
  if (!(err instanceof Error)) return null;
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'disk';
  const api = (err as { api_error?: { description?: string } }).api_error;
  const chained = (err as { chainedError?: Error }).chainedError;
  const said = `${api?.description ?? ''} ${chained?.message ?? ''} ${err instanceof NatsError ? err.message : ''}`;
  return /insufficient resources|maximum bytes exceeded|insufficient storage/i.test(said) ? 'blobstore' : null;
}
