import type { Logger } from '@nap/common';

/** One line per request: what an operator needs to see where the time went. */
export interface AccessRecord {
  method: string | undefined;
  host: string | undefined;
  path: string | undefined;
  status: number;
  bytesIn: number;
  bytesOut: number;
  totalMs: number;
  appMs: number;
  endpoint: string | undefined;
  requestId: string;
  attempts: number;
  error: string | undefined;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * Writes access lines through a pino logger at info. pino writes a flat object of short strings
 * and numbers without a generic JSON.stringify pass; nothing big goes in. When the logger is above
 * info the record is never even built.
 */
export class AccessLog {
  private readonly enabled: boolean;

  constructor(private readonly logger: Logger) {
    this.enabled = logger.isLevelEnabled('info');
  }

  get active(): boolean {
    return this.enabled;
  }

  write(r: AccessRecord): void {
    if (!this.enabled) return;
    this.logger.info(
      {
        method: r.method,
        host: r.host,
        path: r.path,
        status: r.status,
        bytes_in: r.bytesIn,
        bytes_out: r.bytesOut,
        total_ms: round(r.totalMs),
        app_ms: round(r.appMs),
        router_ms: round(r.totalMs - r.appMs),
        endpoint: r.endpoint,
        request_id: r.requestId,
        attempts: r.attempts,
        error: r.error,
      },
      'access',
    );
  }
}
