import type { Campaign, Etcd3 } from 'etcd3';
import { Backoff, type Logger, RepeatedFailureLog } from '@nap/common';

/** Seconds a dead leader keeps the office: its lease must expire before another can act. */
const LEADER_TTL_S = 3;
/** Short enough to be acting again within a couple of seconds of etcd's return. */
const RETRY = { minMs: 250, maxMs: 2_000 };
const CAMPAIGN_FAILED = 'health manager campaign failed; campaigning again';

/**
 * Exactly one acting health manager among the controllers: an etcd election. Whoever wins acts
 * until its campaign fails (etcd unreachable, lease lost) or it stops; then another takes over
 * within the lease's TTL.
 */
export class Leadership {
  private campaign: Campaign | null = null;
  private leading = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly backoff = new Backoff(RETRY);
  private readonly failures: RepeatedFailureLog;

  constructor(
    private readonly etcd: Etcd3,
    private readonly id: string,
    private readonly log: Logger,
    /** `afterFailure`: the office was lost to an etcd failure (etcd away or restarted) and is back. */
    private readonly onElected: (afterFailure: boolean) => void,
    private readonly onDeposed: () => void,
  ) {
    this.failures = new RepeatedFailureLog(log);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (this.stopped || this.campaign) return;
    const campaign = this.etcd.election('nap-health-manager', LEADER_TTL_S).campaign(this.id);
    this.campaign = campaign;
    campaign.on('elected', () => {
      if (campaign !== this.campaign) return;
      const afterFailure = this.backoff.attempts > 0;
      this.backoff.reset();
      this.failures.recovered(CAMPAIGN_FAILED, 'health manager campaign works again');
      this.leading = true;
      this.log.info({ controller: this.id, after_failure: afterFailure }, 'acting as health manager');
      this.onElected(afterFailure);
    });
    // A campaign can fail twice (its lease lost, and its start rejected): only the first counts,
    // or each failure would start two campaigns, and those four.
    campaign.on('error', (err: Error) => {
      if (campaign !== this.campaign) return;
      this.campaign = null;
      campaign.resign().catch(() => {});
      if (this.leading) {
        this.leading = false;
        this.onDeposed();
      }
      if (this.stopped) return;
      const wait = this.backoff.next();
      this.failures.failed(CAMPAIGN_FAILED, err, { retry_in_ms: wait });
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.start();
      }, wait);
      this.retryTimer.unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.leading) {
      this.leading = false;
      this.onDeposed();
    }
    const campaign = this.campaign;
    this.campaign = null;
    await campaign?.resign().catch(() => {});
  }
}
