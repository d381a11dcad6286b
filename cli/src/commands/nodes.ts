import type { NodeRecord, NodeRole } from '@nap/common/without-engines';
import type { ApiClient } from '../api-client.js';
import { joinCommandFor } from '../join-command.js';
import { type Output, table } from '../output.js';

interface NodeView extends NodeRecord {
  health: string;
  dea: string | null;
  instances: number;
  /** An engines node's etcd member: voting, learner (joined, not caught up yet), not a member, or unknown. */
  etcd_member: string | null;
}

interface TokenView {
  id: string;
  roles: NodeRole[];
  created_at: string;
  created_by: string;
  expires_at: string;
  expired: boolean;
}

/** nap nodes (admin): every host of this nap, its roles, address, health and instances. */
export async function listNodes(api: ApiClient, out: Output): Promise<void> {
  const nodes = await api.call<NodeView[]>('GET', '/v1/nodes');
  const rows = nodes.map((n) => [n.id, n.address, n.roles.join(','), n.health, n.instances, n.etcd_member ?? '-', n.joined_at]);
  out.result(nodes.length === 0 ? 'No node is recorded: run nap up (it records the first node)' : table(['id', 'address', 'roles', 'health', 'instances', 'etcd', 'joined'], rows), nodes);
}

export async function createJoinToken(api: ApiClient, out: Output, o: { roles?: NodeRole[]; ttl: number }): Promise<void> {
  const t = await api.call<TokenView & { token: string }>('POST', '/v1/nodes/tokens', { ...(o.roles ? { roles: o.roles } : {}), ttl_hours: o.ttl });
  out.result(
    [`join token ${t.id} (roles ${t.roles.join(', ')}; expires ${t.expires_at}). It is shown only now:`, `  ${t.token}`, `On the new host: ${joinCommandFor(api.api, t.token, api.ca)}`].join('\n'),
    { ...t, join_command: joinCommandFor(api.api, t.token, api.ca) },
  );
}

export async function listJoinTokens(api: ApiClient, out: Output): Promise<void> {
  const tokens = await api.call<TokenView[]>('GET', '/v1/nodes/tokens');
  const rows = tokens.map((t) => [t.id, t.roles.join(','), t.expired ? `expired ${t.expires_at}` : t.expires_at, t.created_by]);
  out.result(tokens.length === 0 ? 'No join token' : table(['id', 'roles', 'expires', 'made by'], rows), tokens);
}

export async function revokeJoinToken(api: ApiClient, out: Output, id: string): Promise<void> {
  const r = await api.call<{ revoked: string }>('DELETE', `/v1/nodes/tokens/${encodeURIComponent(id)}`);
  out.result(`join token ${r.revoked} revoked`, r);
}

export async function removeNode(api: ApiClient, out: Output, id: string): Promise<void> {
  const r = await api.call<{ removed: string; etcd_member_removed: boolean }>('DELETE', `/v1/nodes/${encodeURIComponent(id)}`);
  out.result(`node ${r.removed} forgotten${r.etcd_member_removed ? ', and its etcd member removed' : ''}; stop its programs on that host with nap down`, r);
}
