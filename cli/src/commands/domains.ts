import type { ApiClient } from '../api-client.js';
import { type Output, table } from '../output.js';

interface DomainView {
  name: string;
  shared: boolean;
  owners?: string[];
  created_at?: string;
}

/** nap domains: the shared domain, then the private ones (an admin sees all and their owners). */
export async function listDomains(api: ApiClient, out: Output): Promise<void> {
  const all = await api.call<DomainView[]>('GET', '/v1/domains');
  const rows = all.map((d) => [d.name, d.shared ? 'shared' : 'private', d.shared ? 'everyone (one label each)' : (d.owners?.join(', ') ?? 'you'), d.created_at ?? '']);
  out.result(table(['domain', 'kind', 'who may claim', 'created'], rows), all);
}

export async function createDomain(api: ApiClient, out: Output, name: string, owners: string[]): Promise<void> {
  const made = await api.call<DomainView>('POST', '/v1/domains', { name, owners });
  const who = made.owners && made.owners.length > 0 ? made.owners.join(', ') : 'admins only (nap share-domain DOMAIN USER gives it to a user)';
  out.result(`Created domain ${made.name}: hosts and *.${made.name} may be claimed by ${who}`, made);
}

export async function deleteDomain(api: ApiClient, out: Output, name: string): Promise<void> {
  const gone = await api.call<{ name: string; deleted: boolean }>('DELETE', `/v1/domains/${encodeURIComponent(name)}`);
  out.result(`Deleted domain ${name}`, gone);
}

/** Gives a domain to a user or takes it back; routes already claimed stay. */
export async function shareDomain(api: ApiClient, out: Output, name: string, user: string, share: boolean): Promise<void> {
  const path = `/v1/domains/${encodeURIComponent(name)}/owners/${encodeURIComponent(user)}`;
  const changed = await api.call<DomainView>(share ? 'PUT' : 'DELETE', path);
  out.result(`${name} may now be used by: ${changed.owners?.join(', ') || 'admins only'}`, changed);
}
