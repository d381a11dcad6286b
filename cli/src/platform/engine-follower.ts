import { Backoff, type EngineCredentials, type Logger, natsUsersOf, RepeatedFailureLog, type Settings, sleep } from '@nap/common';
import { components } from './components.js';
import { followEnginePeers } from './engine-peers.js';

const PEERS_EVERY_MS = 5_000;

/** How a node's NATS server takes new routes: restarted (it ran alone) or told to re-read its config. */
export type NatsChange = 'clustered' | 'routes';

/**
 * On every node of a cluster, node.yaml names every engines node's etcd and NATS (for the
 * programs' next start; running ones follow by themselves), so a node restarted after the loss
 * of the host it joined through still finds the engines. On an engines node its NATS server
 * also routes to every other one: its config is written again and `applyNats` makes the server
 * take it (a server that ran alone must restart to become clustered, keeping its streams; one
 * that was clustered re-reads its routes on SIGHUP). Run by the supervisor, or under systemd by
 * the nap-follow unit (follow-main.ts).
 */
export async function followEnginePeersForever(
  start: Settings,
  creds: EngineCredentials,
  log: Logger,
  signal: AbortSignal,
  applyNats: (how: NatsChange) => Promise<void>,
): Promise<void> {
  // A node alone on loopback has no peers to find.
  if (start.nodeAddress.startsWith('127.')) return;
  let settings = start;
  const backoff = new Backoff({ minMs: PEERS_EVERY_MS, maxMs: 60_000 });
  const failures = new RepeatedFailureLog(log, 60_000);
  while (!signal.aborted) {
    await sleep(backoff.next(), signal);
    if (signal.aborted) return;
    try {
      const followed = await followEnginePeers(settings, creds, log);
      failures.recovered("following the cluster's engines", "the cluster's engines are followed again");
      backoff.reset();
      settings = followed.settings;
      if (!followed.nats) continue;
      // Written again with the new routes; the server reads it at its (re)start or on SIGHUP.
      components(settings, natsUsersOf(creds), { routePassword: creds.natsRoutePassword });
      await applyNats(followed.nats);
      log.info({ nats_peers: settings.natsPeers, how: followed.nats === 'clustered' ? 'restart' : 'reload' }, 'NATS routes to the other engines nodes');
    } catch (err) {
      failures.failed("following the cluster's engines", err);
    }
  }
}
