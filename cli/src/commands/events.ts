import type { AppEventView } from '@nap/common/without-engines';
import type { ApiClient } from '../api-client.js';
import { type Output, table } from '../output.js';


function describe(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

export async function events(api: ApiClient, out: Output, app: string): Promise<void> {
  const list = await api.call<AppEventView[]>('GET', `/v1/apps/${app}/events`);
  out.result(
    list.length === 0 ? `no events for ${app}` : table(['time', 'event', 'actor', 'detail'], list.map((e) => [e.time, e.type, e.actor, describe(e.detail)])),
    list,
  );
}
