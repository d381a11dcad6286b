import { type ClusterSecrets, type EngineCredentials, Etcd3, ETCD_ROOT_USER, keys, nodeIdOf, NodeRecord as NodeRecordSchema, type NodeRecord, type Settings } from '@nap/common';
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
  };
  const node: NodeRecord = { id: nodeIdOf(settings.nodeAddress), address: settings.nodeAddress, roles: settings.nodeRoles, joined_at: new Date().toISOString() };
  const root = new Etcd3({ hosts: settings.etcdUrls, dialTimeout: 3000, auth: { username: ETCD_ROOT_USER, password: creds.etcdRootPassword } });
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
