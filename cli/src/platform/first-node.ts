import { Backoff, readCa, retry, type ClusterSecrets, connectEtcdAsRoot, type EngineCredentials, keys, nodeIdOf, NodeRecord as NodeRecordSchema, type NodeRecord, type Settings } from '@nap/common';
import type { PlatformState } from './state.js';


/**
 * The first node (the one with the engines) records itself as a node and publishes what a joining
 * node is handed, as etcd's root: only controllers (and root) may read `/nap/cluster/`.
 */
export async function publishFirstNode(settings: Settings, state: PlatformState, creds: EngineCredentials): Promise<NodeRecord> {
  const secrets: ClusterSecrets = {
    etcd: creds.etcd,
    nats: creds.nats,
    etcd_root: creds.etcdRootPassword,
    nats_route: creds.natsRoutePassword,
    directory_secret: await state.secret('directory.secret'),
    admin_token: await state.secret('admin.token'),
    cert_key: await state.secret('cert.key'),
  };
  const ca = settings.tls ? await readCa(settings.home) : null;
  if (ca) {
    secrets.tls_ca_cert = ca.caCert;
    secrets.tls_ca_key = ca.caKey;
  }
  const node: NodeRecord = { id: nodeIdOf(settings.nodeAddress), address: settings.nodeAddress, roles: settings.nodeRoles, joined_at: new Date().toISOString() };
  // An etcd member that just came back may still be catching up (its auth store, its leader).
  return retry(() => publish(settings, creds, node, secrets), {
    backoff: new Backoff({ minMs: 250, maxMs: 2_000 }),
    retryIf: (err) => TRANSIENT.test((err as Error).message),
    withinMs: 30_000,
  });
}

const TRANSIENT = /auth store is old|unavailable|circuit breaker|deadline|no leader|too many requests/i;

async function publish(settings: Settings, creds: EngineCredentials, node: NodeRecord, secrets: ClusterSecrets): Promise<NodeRecord> {
  const root = connectEtcdAsRoot(settings.etcdUrls, creds.etcdRootPassword, settings.tls?.ca);
  try {
    const raw = await root.get(keys.node(node.id)).string();
    let kept: unknown = null;
    try {
      kept = raw ? JSON.parse(raw) : null;
    } catch {
      // a record that is not JSON is written again below
    }
    const earlier = NodeRecordSchema.safeParse(kept);
    if (earlier.success) node.joined_at = earlier.data.joined_at;
    await root.put(keys.clusterSecrets()).value(JSON.stringify(secrets));
    await root.put(keys.node(node.id)).value(JSON.stringify(node));
  } finally {
    root.close();
  }
  return node;
}
