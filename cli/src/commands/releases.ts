import type { ApiClient } from '../api-client.js';
import type { AppView, ReleaseView } from '@nap/common/without-engines';
import { type Output, table } from '../output.js';
import { waitForVersion } from './apps.js';


export async function listReleases(api: ApiClient, out: Output, app: string): Promise<void> {
  const list = await api.call<ReleaseView[]>('GET', `/v1/apps/${app}/releases`);
  out.result(
    list.length === 0 ? `${app} has no releases yet` : table(['version', 'created', 'by', 'description'], list.map((r) => [`v${r.version}`, r.created_at, r.actor, r.description])),
    list,
  );
}

/** nap rollback NAME vN: code and configuration of vN as a new release, instances replaced one at a time. */
export async function rollback(api: ApiClient, out: Output, app: string, version: string): Promise<void> {
  const updated = await api.call<AppView>('POST', `/v1/apps/${app}/rollback`, { version });
  out.progress(`Rolling ${app} back to ${version.startsWith('v') ? version : `v${version}`}…`);
  if (updated.state === 'STARTED') await waitForVersion(api, out, updated, 180_000);
  out.result(`${app} is back at ${version}: ${updated.urls.join(', ')}`, updated);
}
