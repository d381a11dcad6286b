import { connectEtcdAsRoot, ENGINE_CLIENTS, engineUrlsOf, type EngineCredentials, Etcd3, loadSettings, type Logger, type Settings, tlsCredentials } from '@nap/common';
import { readNodeSettings, updateNodeSettings } from './node-settings.js';

export interface EnginePeers {
  /** The other engines nodes' addresses, which this node's NATS server routes to. */
  natsPeers: string[];
  /** Every voting etcd member's client URL, and every engines node's NATS URL: what this node's programs start with. */
  etcdUrls: string[];
  natsUrls: string[];
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * What the cluster's engines are now, from etcd's member list (any platform user may read it):
 * every voting member is an engines node, with its NATS server beside its etcd. A node that joined
 * and never came up stays a learner and is left out: it must not turn a lone NATS server into
 * half of a cluster that can elect no leader.
 */
export async function enginePeersOf(client: Etcd3, settings: Settings): Promise<EnginePeers> {
  const { members } = await client.cluster.memberList({});
  const voting = members.filter((m) => !m.isLearner);
  const hosts = [...new Set(voting.flatMap((m) => m.peerURLs.map((u) => new URL(u).hostname)))].sort();
  return {
    natsPeers: hosts.filter((a) => a !== settings.nodeAddress),
    etcdUrls: voting.flatMap((m) => m.clientURLs).sort(),
    natsUrls: hosts.map(engineUrlsOf(settings).nats),
  };
}

/** etcd's root on an engines node (it holds it); elsewhere the first platform program's own user. */
function clientFor(settings: Settings, creds: EngineCredentials): Etcd3 {
  if (settings.nodeRoles.includes('engines')) return connectEtcdAsRoot(settings.etcdUrls, creds.etcdRootPassword, settings.tls?.ca);
  const user = ENGINE_CLIENTS.find((c) => settings.nodeRoles.includes(c)) ?? 'router';
  return new Etcd3({ hosts: settings.etcdUrls, dialTimeout: 3000, auth: { username: user, password: creds.etcd[user] }, credentials: tlsCredentials(settings.tls?.ca) });
}

/**
 * Brings this node's settings in line with the cluster's engines (NAP_NATS_PEERS, NAP_ETCD_URLS,
 * NAP_NATS_URL in node.yaml) and answers what changed for NATS: 'clustered' when its server ran
 * alone and now has peers (it must restart: JetStream becomes clustered only at start, keeping its
 * streams), 'routes' when only its routes changed (a reload takes them), or null.
 */
export async function followEnginePeers(settings: Settings, creds: EngineCredentials, log: Logger): Promise<{ settings: Settings; nats: 'clustered' | 'routes' | null }> {
  const client = clientFor(settings, creds);
  let peers: EnginePeers;
  try {
    peers = await enginePeersOf(client, settings);
  } finally {
    client.close();
  }
  const engines = settings.nodeRoles.includes('engines');
  // Compared with what node.yaml holds (the environment may override it; then it is left to the environment).
  const kept = await readNodeSettings(settings.home);
  const listOf = (key: string) => (kept[key] ?? '').split(',').filter(Boolean).sort();
  const changes: Record<string, string> = {};
  // A node that finds no peers (all others removed) keeps routing to its last ones: a NATS server cannot go back to running alone.
  if (engines && peers.natsPeers.length && !same(peers.natsPeers, listOf('NAP_NATS_PEERS'))) changes.NAP_NATS_PEERS = peers.natsPeers.join(',');
  if (peers.etcdUrls.length && !same(peers.etcdUrls, listOf('NAP_ETCD_URLS'))) changes.NAP_ETCD_URLS = peers.etcdUrls.join(',');
  if (peers.natsUrls.length > 1 && !same(peers.natsUrls, listOf('NAP_NATS_URL'))) changes.NAP_NATS_URL = peers.natsUrls.join(',');
  if (Object.keys(changes).length === 0) return { settings, nats: null };
  await updateNodeSettings(settings.home, changes);
  log.info({ changes: Object.keys(changes), nats_peers: peers.natsPeers, etcd: peers.etcdUrls }, "this node's engines settings follow the cluster");
  const nats = changes.NAP_NATS_PEERS ? (settings.natsPeers.length === 0 ? 'clustered' : 'routes') : null;
  return { settings: loadSettings(), nats };
}
