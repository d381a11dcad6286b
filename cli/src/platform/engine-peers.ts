import { connectEtcdAsRoot, engineUrlsOf, type EngineCredentials, type Etcd3, keys, loadSettings, type Logger, NodeRecord, readPrefix, type Settings } from '@nap/common';
import { readNodeSettings, updateNodeSettings } from './node-settings.js';

export interface EnginePeers {
  /** The other engines nodes' addresses, which this node's NATS server routes to. */
  natsPeers: string[];
  /** Every voting etcd member's client URL, and every engines node's NATS URL: what this node's programs start with. */
  etcdUrls: string[];
  natsUrls: string[];
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** What the cluster says this engines node's peers are now (as etcd's root, which an engines node holds). */
export async function enginePeersOf(root: Etcd3, settings: Settings): Promise<EnginePeers> {
  const engines = Object.values(await readPrefix(root, keys.nodes()))
    .flatMap((raw) => {
      try {
        const parsed = NodeRecord.safeParse(JSON.parse(raw));
        return parsed.success ? [parsed.data] : [];
      } catch {
        return [];
      }
    })
    .filter((n) => n.roles.includes('engines'))
    .map((n) => n.address)
    .sort();
  const { members } = await root.cluster.memberList({});
  // A node is routed to once its etcd member votes: one that joined and never came up (a learner
  // for ever) must not turn a lone NATS server into half of a cluster that can elect no leader.
  const voting = new Set(members.filter((m) => !m.isLearner).flatMap((m) => m.peerURLs.map((u) => new URL(u).hostname)));
  return {
    natsPeers: engines.filter((a) => a !== settings.nodeAddress && voting.has(a)),
    etcdUrls: members.filter((m) => !m.isLearner).flatMap((m) => m.clientURLs).sort(),
    natsUrls: engines.map(engineUrlsOf(settings).nats),
  };
}

/**
 * Brings this node's settings in line with the cluster's engines (NAP_NATS_PEERS, NAP_ETCD_URLS,
 * NAP_NATS_URL in node.yaml) and answers what changed for NATS: 'clustered' when its server ran
 * alone and now has peers (it must restart: JetStream becomes clustered only at start, keeping its
 * streams), 'routes' when only its routes changed (a reload takes them), or null.
 */
export async function followEnginePeers(settings: Settings, creds: EngineCredentials, log: Logger): Promise<{ settings: Settings; nats: 'clustered' | 'routes' | null }> {
  const root = connectEtcdAsRoot(settings.etcdUrls, creds.etcdRootPassword, settings.tls?.ca);
  let peers: EnginePeers;
  try {
    peers = await enginePeersOf(root, settings);
  } finally {
    root.close();
  }
  // Compared with what node.yaml holds (the environment may override it; then it is left to the environment).
  const kept = await readNodeSettings(settings.home);
  const listOf = (key: string) => (kept[key] ?? '').split(',').filter(Boolean).sort();
  const changes: Record<string, string> = {};
  // A node that finds no peers (all others removed) keeps routing to its last ones: a NATS server cannot go back to running alone.
  if (peers.natsPeers.length && !same(peers.natsPeers, listOf('NAP_NATS_PEERS'))) changes.NAP_NATS_PEERS = peers.natsPeers.join(',');
  if (peers.etcdUrls.length && !same(peers.etcdUrls, listOf('NAP_ETCD_URLS'))) changes.NAP_ETCD_URLS = peers.etcdUrls.join(',');
  if (peers.natsUrls.length > 1 && !same(peers.natsUrls, listOf('NAP_NATS_URL'))) changes.NAP_NATS_URL = peers.natsUrls.join(',');
  if (Object.keys(changes).length === 0) return { settings, nats: null };
  await updateNodeSettings(settings.home, changes);
  log.info({ changes: Object.keys(changes), nats_peers: peers.natsPeers, etcd: peers.etcdUrls }, "this node's engines settings follow the cluster");
  const nats = changes.NAP_NATS_PEERS ? (settings.natsPeers.length === 0 ? 'clustered' : 'routes') : null;
  return { settings: loadSettings(), nats };
}
