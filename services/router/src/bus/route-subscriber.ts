import { type Bus, channels, type Logger, msg } from '@nap/common';
import type { Address } from '../table/endpoint.js';
import type { Registration, RouteTable } from '../table/route-table.js';

export interface RouteSubscriberOptions {
  /** This router's id in router.start. */
  id: string;
  /** Asked of every DEA in router.start: re-register each route at least this often. */
  minimumRegisterIntervalInSeconds?: number;
  /** Routes not re-registered within this many seconds are pruned (6 missed registrations). */
  pruneThresholdInSeconds?: number;
  pruneIntervalMs?: number;
  /**
   * After NATS comes back, pruning waits this long so every DEA can re-register first. Defaults
   * to one register interval.
   */
  reconnectGraceMs?: number;
  /** Injected by tests. */
  now?: () => number;
  /** An instance is lost (router.unregister with `lost`) and no route leads to it any more. */
  onLost?: (address: Address) => void;
}

/**
 * How a start waits for the DEAs' answers to router.start before the router takes requests: until
 * no registration has come for `quietMs`, and never longer than `maxMs` (gorouter sleeps its
 * start_response_delay_interval for the same reason). Serving earlier would answer 404, or 503 for
 * a claimed host, to a request for an app that is running.
 */
export interface StartSettle {
  quietMs: number;
  maxMs: number;
}
export const DEFAULT_START_SETTLE: StartSettle = { quietMs: 400, maxMs: 5000 };

const defaults = {
  minimumRegisterIntervalInSeconds: 20,
  pruneThresholdInSeconds: 120,
  pruneIntervalMs: 30_000,
};

/**
 * NATS → route table: the only part of the router that hears the bus.
 *
 * While NATS is unreachable no registration can arrive, so every route would look stale: the table
 * is kept as it is and pruning is suspended (gorouter does the same). The Bus reconnects forever;
 * once it is back, router.start goes out again so DEAs re-register at once, and pruning resumes
 * only after one full register interval.
 */
export class RouteSubscriber {
  private readonly opts: Required<Omit<RouteSubscriberOptions, 'reconnectGraceMs' | 'now' | 'onLost'>> & { reconnectGraceMs: number };
  private readonly onLost?: (address: Address) => void;
  private readonly now: () => number;
  private subs: ReturnType<Bus['subscribe']>[] = [];
  private pruneTimer?: NodeJS.Timeout;
  private reannounceTimer?: NodeJS.Timeout;
  private connected = true;
  private pruneSuspendedUntil = 0;
  private stopped = false;
  private lastRegistrationAt = 0;

  constructor(
    private readonly bus: Bus,
    private readonly table: RouteTable,
    private readonly log: Logger,
    opts: RouteSubscriberOptions,
  ) {
    const merged = { ...defaults, ...stripUndefined(opts), id: opts.id };
    this.opts = { ...merged, reconnectGraceMs: opts.reconnectGraceMs ?? merged.minimumRegisterIntervalInSeconds * 1000 };
    this.now = opts.now ?? Date.now;
    this.onLost = opts.onLost;
  }

  /** Whether the bus is connected now, for /varz. */
  get natsConnected(): boolean {
    return this.connected;
  }

  async start(): Promise<void> {
    this.subs.push(
      this.bus.subscribe(channels.routerRegister, (body) => {
        this.lastRegistrationAt = Date.now();
        this.table.register(toRegistration(body));
      }),
      this.bus.subscribe(channels.routerUnregister, (body) => {
        const address = this.table.address(body.host, body.port);
        const removed = this.table.unregister(toRegistration(body));
        this.log.debug({ host: body.host, port: body.port, uris: body.uris, removed, lost: body.lost }, 'unregistered');
        // Only once no route leads there: the same host:port may serve another route still.
        if (body.lost && address && address.routes === 0) this.onLost?.(address);
      }),
      this.bus.subscribe(channels.routerGreet, (_body, m) => {
        this.bus.reply(channels.routerGreet, m, this.startMessage());
      }),
    );
    void this.watchConnection();
    // Subscriptions must reach the server before DEAs hear router.start, or the
    // registrations they send in answer would be lost until their next interval.
    await this.bus.flush();
    this.announce();

    this.pruneTimer = setInterval(() => this.prune(), this.opts.pruneIntervalMs);
    this.pruneTimer.unref();
  }

  /** Resolves once the registrations that answer router.start have stopped coming (see StartSettle). */
  async settled({ quietMs, maxMs }: StartSettle): Promise<void> {
    const started = Date.now();
    for (;;) {
      const now = Date.now();
      const quietFor = now - Math.max(started, this.lastRegistrationAt);
      if (quietFor >= quietMs || now - started >= maxMs || this.stopped) return;
      await new Promise((r) => setTimeout(r, Math.min(quietMs - quietFor, maxMs - (now - started))));
    }
  }

  /** Prunes stale routes unless NATS is down or just back; returns how many went. */
  prune(): number {
    if (!this.connected || this.now() < this.pruneSuspendedUntil) return 0;
    const removed = this.table.prune(this.opts.pruneThresholdInSeconds * 1000);
    if (removed > 0) this.log.info({ removed, hosts: this.table.hostCount }, 'pruned stale routes');
    return removed;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pruneTimer);
    clearTimeout(this.reannounceTimer);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  private async watchConnection(): Promise<void> {
    try {
      for await (const change of this.bus.connectionChanges()) {
        if (this.stopped) return;
        if (change === 'disconnect') {
          this.connected = false;
          this.log.warn({ routes: this.table.routeCount }, 'NATS lost: keeping every route, pruning suspended');
        } else {
          this.connected = true;
          this.pruneSuspendedUntil = this.now() + this.opts.reconnectGraceMs;
          this.log.warn({ graceMs: this.opts.reconnectGraceMs }, 'NATS back: asking DEAs to register, pruning resumes after the grace');
          this.announce();
          // DEAs reconnect on their own schedule, and one that is back after the router misses the
          // first announcement: say it again halfway through the grace.
          clearTimeout(this.reannounceTimer);
          this.reannounceTimer = setTimeout(() => this.connected && !this.stopped && this.announce(), this.opts.reconnectGraceMs / 2);
          this.reannounceTimer.unref();
        }
      }
    } catch (err) {
      this.log.error({ err }, 'watching the NATS connection failed');
    }
  }

  private announce(): void {
    this.bus.publish(channels.routerStart, this.startMessage());
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

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
