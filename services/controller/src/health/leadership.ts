import type { Campaign, Etcd3 } from 'etcd3';
import type { Logger } from '@nap/common';

/** Seconds a dead leader keeps the office: its lease must expire before another can act. */
const LEADER_TTL_S = 3;
const RETRY_MS = 1000;

/**
 * Exactly one acting health manager among the controllers: an etcd election. Whoever wins acts
 * until its campaign fails (etcd unreachable, lease lost) or it stops; then another takes over
 * within the lease's TTL.
 */
export class Leadership {
  private campaign: Campaign | null = null;
  private leading = false;
  private stopped = false;

  constructor(
    private readonly etcd: Etcd3,
    private readonly id: string,
    private readonly log: Logger,
    private readonly onElected: () => void,
    private readonly onDeposed: () => void,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (this.stopped) return;
    const campaign = this.etcd.election('nap-health-manager', LEADER_TTL_S).campaign(this.id);
    this.campaign = campaign;
    campaign.on('elected', () => {
      this.leading = true;
      this.log.info({ controller: this.id }, 'acting as health manager');
      this.onElected();
    });
    campaign.on('error', (err: Error) => {
      this.log.warn({ err: err.message }, 'health manager campaign failed; campaigning again');
      if (this.leading) {
        this.leading = false;
        this.onDeposed();
      }
      setTimeout(() => this.start(), RETRY_MS).unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.leading) {
      this.leading = false;
      this.onDeposed();
    }
    await this.campaign?.resign().catch(() => {});
  }
}
