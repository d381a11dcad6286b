import { randomUUID } from 'node:crypto';
import { Bus, type Logger, type Settings } from '@nap/common';
import { RoundRobin } from './balancing/round-robin.js';
import type { BalancingStrategy } from './balancing/strategy.js';
import { RouteSubscriber, type RouteSubscriberOptions } from './bus/route-subscriber.js';
import { RouterProxy } from './proxy/proxy.js';
import { StatusServer } from './status/status-server.js';
import { RouteTable } from './table/route-table.js';

export interface RouterOptions {
  /** Defaults to a random uuid; announced in router.start. */
  id?: string;
  balancing?: BalancingStrategy;
  /** Interface for the proxy port (default: all) and the status port (default: loopback). */
  listenHost?: string;
  statusListenHost?: string;
  registration?: Omit<RouteSubscriberOptions, 'id'>;
}

export interface Router {
  id: string;
  table: RouteTable;
  /** Stops listening, leaves the bus and closes connections; safe to call twice. */
  close(): Promise<void>;
}

/** A whole router in this process: what main.ts runs, and what tests and benches embed. */
export async function startRouter(settings: Settings, log: Logger, options: RouterOptions = {}): Promise<Router> {
  const id = options.id ?? randomUUID();
  const table = new RouteTable();
  const bus = await Bus.connect(settings, { name: `router-${id}`, log });
  const subscriber = new RouteSubscriber(bus, table, log, { ...options.registration, id });
  const proxy = new RouterProxy(table, options.balancing ?? new RoundRobin(), log, {
    port: settings.routerPort,
    listenHost: options.listenHost,
  });
  const status = new StatusServer(table, { port: settings.routerStatusPort, listenHost: options.statusListenHost });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      subscriber.stop();
      await Promise.allSettled([proxy.close(), status.close()]);
      await bus.close();
    })());

  try {
    // Listen before announcing: DEAs register as soon as they hear router.start.
    await proxy.listen();
    await status.listen();
    await subscriber.start();
  } catch (err) {
    await close();
    throw err;
  }
  log.info({ id, port: settings.routerPort, statusPort: settings.routerStatusPort }, 'router listening');
  return { id, table, close };
}
