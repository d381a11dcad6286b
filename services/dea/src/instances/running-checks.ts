import { passesNow } from '../health/health-check.js';
import type { Instance } from './instance.js';

/** This many failures in a row (one check every NAP_DEA_HEALTH_CHECK_INTERVAL_S) and the instance is restarted. */
const RUNNING_CHECK_FAILURES = 3;

/**
 * Keeps checking RUNNING instances as they were checked at start (port or http): one that stops
 * answering for three checks in a row is reported to `failed` (the manager takes it down as
 * CRASHED, and the health manager starts a replacement).
 */
export class RunningChecks {
  private readonly failures = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly host: string,
    private readonly live: () => Instance[],
    private readonly failed: (inst: Instance, why: string) => Promise<void>,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.checkAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async checkAll(): Promise<void> {
    await Promise.all(
      this.live().map(async (inst) => {
        if (inst.state !== 'RUNNING' || inst.port === null || inst.evacuating) return;
        const id = inst.start.instance_id;
        if (await passesNow(inst.start.health_check, this.host, inst.port)) {
          this.failures.delete(id);
          return;
        }
        const failures = (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, failures);
        if (failures < RUNNING_CHECK_FAILURES || inst.state !== 'RUNNING') return;
        this.failures.delete(id);
        const check = inst.start.health_check;
        const why = `health check failed while running: ${check.type === 'http' ? `${check.endpoint ?? '/'} did not answer 2xx` : `nothing accepted connections on port ${inst.port}`} ${RUNNING_CHECK_FAILURES} times in a row`;
        await this.failed(inst, why);
      }),
    );
  }
}
