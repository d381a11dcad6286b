import type { ApiClient } from '../api-client.js';
import type { Output } from '../output.js';

export async function showEnv(api: ApiClient, out: Output, app: string): Promise<void> {
  const env = await api.call<Record<string, string>>('GET', `/v1/apps/${app}/env`);
  const keys = Object.keys(env).sort();
  out.result(keys.length === 0 ? `${app} has no env of its own` : keys.map((k) => `${k}=${env[k]}`).join('\n'), env);
}

/** Sets (or, with a null value, removes) one variable; the app rolls to the new env one instance at a time. */
export async function changeEnv(api: ApiClient, out: Output, app: string, key: string, value: string | null): Promise<void> {
  const env = await api.call<Record<string, string>>('PUT', `/v1/apps/${app}/env`, { [key]: value });
  out.result(value === null ? `Removed ${key} from ${app}` : `Set ${key} on ${app}`, env);
}
