import type { ApiClient } from '../api-client.js';
import { type Output, table } from '../output.js';

interface QuotaView {
  user: string;
  role: string;
  unlimited: boolean;
  source: 'set' | 'default';
  limit: { apps: number; instances: number; memory_mb: number };
  used: { apps: number; instances: number; memory_mb: number };
}

export interface QuotaChange {
  apps?: number;
  instances?: number;
  memory?: string;
}

/** nap quota USER: shows use and limits; with --apps, --instances or --memory (admin) sets them first. */
export async function quota(api: ApiClient, out: Output, user: string, change: QuotaChange): Promise<void> {
  const setting = change.apps !== undefined || change.instances !== undefined || change.memory !== undefined;
  const path = `/v1/users/${encodeURIComponent(user)}/quota`;
  const view = setting
    ? await api.call<QuotaView>('PUT', path, {
        ...(change.apps !== undefined ? { apps: change.apps } : {}),
        ...(change.instances !== undefined ? { instances: change.instances } : {}),
        ...(change.memory !== undefined ? { memory_mb: change.memory } : {}),
      })
    : await api.call<QuotaView>('GET', path);
  const head = view.unlimited
    ? `${view.user} is an admin: no quota applies`
    : `${setting ? 'Set the' : 'The'} quota of ${view.user} (${view.source === 'set' ? 'set by an admin' : 'the default'}):`;
  const rows = [
    ['apps', view.used.apps, view.limit.apps],
    ['instances', view.used.instances, view.limit.instances],
    ['memory', `${view.used.memory_mb}M`, `${view.limit.memory_mb}M`],
  ];
  out.result(`${head}\n${table(['', 'used', 'limit'], rows)}`, view);
}
