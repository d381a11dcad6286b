import type { ApiClient } from '../api-client.js';
import { CliError } from '../config.js';
import { type Output, table } from '../output.js';

interface ServiceView {
  name: string;
  kind: string;
  owner: string;
  created_at: string;
  bound_apps: string[];
  credentials?: Record<string, unknown>;
}

export async function listServices(api: ApiClient, out: Output): Promise<void> {
  const all = await api.call<ServiceView[]>('GET', '/v1/services');
  out.result(all.length === 0 ? 'No services: nap create-user-provided-service NAME -p JSON' : table(['name', 'kind', 'bound apps', 'owner'], all.map((s) => [s.name, s.kind, s.bound_apps.join(', ') || '-', s.owner])), all);
}

/** Cloud Foundry's `cf cups NAME -p JSON`: the credentials are a JSON object, given inline. */
export async function createUserProvidedService(api: ApiClient, out: Output, name: string, json: string): Promise<void> {
  let credentials: unknown;
  try {
    credentials = JSON.parse(json);
  } catch (err) {
    throw new CliError(`-p takes the credentials as a JSON object, such as '{"uri":"postgres://user:pass@host/db"}': ${(err as Error).message}`);
  }
  if (!credentials || typeof credentials !== 'object' || Array.isArray(credentials)) throw new CliError('-p takes a JSON object, such as \'{"uri":"postgres://user:pass@host/db"}\'');
  const made = await api.call<ServiceView>('POST', '/v1/services', { name, credentials });
  out.result(`Created user-provided service ${made.name}: bind it with nap bind-service APP ${made.name}`, made);
}

export async function bindService(api: ApiClient, out: Output, app: string, service: string, bind: boolean): Promise<void> {
  const done = await api.call<{ app: string; service: string; bound: boolean }>(bind ? 'PUT' : 'DELETE', `/v1/apps/${app}/services/${encodeURIComponent(service)}`);
  out.result(`${service} ${bind ? 'bound to' : 'unbound from'} ${app}: its instances are replaced one at a time${bind ? ' and see it in VCAP_SERVICES' : ''}`, done);
}

export async function deleteService(api: ApiClient, out: Output, name: string): Promise<void> {
  await api.call('DELETE', `/v1/services/${encodeURIComponent(name)}`);
  out.result(`Deleted service ${name}`, { name, deleted: true });
}
