import { ApiClient } from '../api-client.js';
import { caFor } from '../cluster-ca.js';
import { target, writeConfig } from '../config.js';
import type { Output } from '../output.js';

/** nap target URL: an https API of a cluster is trusted through its CA, given as a file or by its pin. */
export async function targetApi(out: Output, url: string, trust: { caFile?: string; caPin?: string } = {}): Promise<void> {
  const base = url.replace(/\/+$/, '');
  const ca = trust.caFile || trust.caPin ? await caFor(base, trust) : undefined;
  const api = new ApiClient(base, undefined, ca);
  const info = await api.call<{ name: string; version: string; domain: string }>('GET', '/v1/info');
  await writeConfig({ api: api.api, ca });
  out.result(`Targeted ${api.api} (${info.name} ${info.version}, apps at *.${info.domain})`, { api: api.api, ...info });
}

export async function login(out: Output, token: string): Promise<void> {
  const t = await target();
  const who = await new ApiClient(t.api, token, t.ca).call<{ name: string; role: string }>('GET', '/v1/whoami');
  await writeConfig({ token });
  out.result(`Logged in to ${t.api} as ${who.name} (${who.role})`, { api: t.api, ...who });
}

export async function whoami(out: Output): Promise<void> {
  const who = await (await ApiClient.fromConfig()).call<{ name: string; role: string }>('GET', '/v1/whoami');
  out.result(`${who.name} (${who.role})`, who);
}
