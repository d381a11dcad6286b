import type { ApiClient } from '../api-client.js';
import type { AppView } from '@nap/common/without-engines';
import { CliError } from '../config.js';
import type { Output } from '../output.js';

export async function showParameters(api: ApiClient, out: Output, app: string): Promise<void> {
  const params = await api.call<string[]>('GET', `/v1/apps/${app}/parameters`);
  out.result(params.length === 0 ? `${app}'s command has no {parameters}` : params.join('\n'), params);
}

/** nap similar NAME --param k=v…: another app from the same droplet, its command's placeholders filled. */
export async function launchSimilar(api: ApiClient, out: Output, app: string, name: string | undefined, pairs: string[]): Promise<void> {
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`--param takes key=value, got ${JSON.stringify(pair)}`);
    params[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const made = await api.call<AppView>('POST', `/v1/apps/${app}/similar`, { ...(name ? { name } : {}), params });
  out.result(`Started ${made.name} like ${app}: ${made.urls.join(', ')}`, made);
}
