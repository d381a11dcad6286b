import { type Bus, channels, type Logger, type msg, type SnapshotEntry as Instance } from '@nap/common';

/** gorouter's default until a router says otherwise in router.start. */
const DEFAULT_REGISTER_INTERVAL_S = 20;

/**
 * Keeps routers told about this DEA's RUNNING instances: once when an instance becomes healthy,
 * then again on every interval the routers announce, so a router that restarts or prunes learns
 * the routes back.
 */
export class RouteAnnouncer {
  private timer: NodeJS.Timeout | null = null;
  private intervalS = DEFAULT_REGISTER_INTERVAL_S;

  constructor(
    private readonly bus: Bus,
    private readonly host: string,
    private readonly running: () => Instance[],
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.bus.subscribe(channels.routerStart, (start) => {
      this.useInterval(start.minimumRegisterIntervalInSeconds);
      this.registerAll();
    });
    this.schedule();
    try {
      const start = await this.bus.request(channels.routerGreet, {}, 1000);
      this.useInterval(start.minimumRegisterIntervalInSeconds);
    } catch {
      // No router yet: it will announce router.start when it comes, and we re-register then.
      this.log.info({ interval_s: this.intervalS }, 'no router answered router.greet yet; registering on the default interval');
    }
  }

  private useInterval(seconds: number): void {
    if (seconds === this.intervalS) return;
    this.intervalS = seconds;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.registerAll(), this.intervalS * 1000);
    this.timer.unref();
  }

  private body(i: Instance): msg.RouterRegister | null {
    if (i.port === null || i.start.uris.length === 0) return null;
    return {
      host: this.host,
      port: i.port,
      uris: i.start.uris,
      app: i.start.app_id,
      private_instance_id: i.start.instance_id,
      tags: { component: 'dea', app_name: i.start.app_name, index: String(i.start.index) },
    };
  }

  register(i: Instance): void {
    const body = this.body(i);
    if (body) this.bus.publish(channels.routerRegister, body);
  }

  unregister(i: Instance): void {
    const body = this.body(i);
    if (body) this.bus.publish(channels.routerUnregister, body);
  }

  registerAll(): void {
    for (const i of this.running()) this.register(i);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
