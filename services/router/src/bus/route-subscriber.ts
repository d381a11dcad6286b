import { msg, subjects, type Bus, type Logger } from '@nap/common';
import type { Registration, RouteTable } from '../table/route-table.js';

export interface RouteSubscriberOptions {
  /** This router's id in router.start. */
  id: string;
  /** Asked of every DEA in router.start: re-register each route at least this often. */
  minimumRegisterIntervalInSeconds?: number;
  /** Routes not re-registered within this many seconds are pruned (6 missed registrations). */
  pruneThresholdInSeconds?: number;
  pruneIntervalMs?: number;
}

const defaults = {
  minimumRegisterIntervalInSeconds: 20,
  pruneThresholdInSeconds: 120,
  pruneIntervalMs: 30_000,
};

/** NATS → route table: the only part of the router that hears the bus. */
export class RouteSubscriber {
  private readonly opts: Required<RouteSubscriberOptions>;
  private subs: ReturnType<Bus['subscribe']>[] = [];
  private pruneTimer?: NodeJS.Timeout;

  constructor(
    private readonly bus: Bus,
    private readonly table: RouteTable,
    private readonly log: Logger,
    opts: RouteSubscriberOptions,
  ) {
    this.opts = { ...defaults, ...opts };
  }

  async start(): Promise<void> {
    this.subs.push(
      this.bus.subscribe(subjects.routerRegister, msg.RouterRegister, (body) => {
        this.table.register(toRegistration(body));
      }),
      this.bus.subscribe(subjects.routerUnregister, msg.RouterRegister, (body) => {
        const removed = this.table.unregister(toRegistration(body));
        this.log.debug({ host: body.host, port: body.port, uris: body.uris, removed }, 'unregistered');
      }),
      this.bus.subscribe(subjects.routerGreet, msg.Empty, (_body, m) => {
        this.bus.reply(m, msg.RouterStart, this.startMessage());
      }),
    );
    // Subscriptions must reach the server before DEAs hear router.start, or the
    // registrations they send in answer would be lost until their next interval.
    await this.bus.flush();
    this.bus.publish(subjects.routerStart, msg.RouterStart, this.startMessage());

    this.pruneTimer = setInterval(() => this.prune(), this.opts.pruneIntervalMs);
    this.pruneTimer.unref();
  }

  prune(): number {
    const removed = this.table.prune(this.opts.pruneThresholdInSeconds * 1000);
    if (removed > 0) this.log.info({ removed, hosts: this.table.hostCount }, 'pruned stale routes');
    return removed;
  }

  stop(): void {
    clearInterval(this.pruneTimer);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  private startMessage(): msg.RouterStart {
    return {
      id: this.opts.id,
      minimumRegisterIntervalInSeconds: this.opts.minimumRegisterIntervalInSeconds,
      pruneThresholdInSeconds: this.opts.pruneThresholdInSeconds,
    };
  }
}

function toRegistration(body: msg.RouterRegister): Registration {
  return {
    host: body.host,
    port: body.port,
    uris: body.uris,
    app: body.app,
    privateInstanceId: body.private_instance_id,
    tags: body.tags,
  };
}
