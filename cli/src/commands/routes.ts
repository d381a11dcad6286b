import type { ApiClient } from '../api-client.js';
import type { AppView } from '@nap/common/without-engines';
import { type Output, table } from '../output.js';

export async function listRoutes(api: ApiClient, out: Output): Promise<void> {
  const routes = await api.call<{ host: string; app: string | null }[]>('GET', '/v1/routes');
  out.result(routes.length === 0 ? 'No routes' : table(['host', 'app'], routes.map((r) => [r.host, r.app ?? '-'])), routes);
}

/** Adds or removes one host of an app's routes (a route another app holds is refused with 409). */
export async function changeRoute(api: ApiClient, out: Output, app: string, host: string, add: boolean, httpsOnly?: boolean): Promise<void> {
  const current = await api.call<AppView>('GET', `/v1/apps/${app}`);
  const wanted = host.toLowerCase();
  const routes = add ? [...new Set([...current.routes, wanted])] : current.routes.filter((r) => r !== wanted);
  const updated = await api.call<AppView>('PUT', `/v1/apps/${app}`, { routes });
  let note = '';
  if (add && httpsOnly !== undefined) {
    await api.call('PUT', `/v1/apps/${app}/routes/${encodeURIComponent(wanted)}/options`, { https_only: httpsOnly });
    note = httpsOnly ? ` (${wanted}: HTTPS only, plain HTTP is redirected)` : ` (${wanted}: HTTP and HTTPS)`;
  }
  out.result(`${app} routes: ${updated.routes.join(', ') || '(none)'}${note}`, { ...updated, ...(httpsOnly === undefined ? {} : { https_only: httpsOnly }) });
}
