import { readFile } from 'node:fs/promises';
import type { ApiClient } from '../api-client.js';
import { CliError } from '../config.js';
import { type Output, table } from '../output.js';

interface CertView {
  domain: string;
  names: string[];
  issuer: string;
  not_after: string;
  days_left: number;
  source: string;
  owner: string;
  default: boolean;
}

/** nap certs: the certificates the caller may see (an admin: every one, and the platform's default first). */
export async function listCerts(api: ApiClient, out: Output): Promise<void> {
  const all = await api.call<CertView[]>('GET', '/v1/certs');
  const rows = all.map((c) => [c.default ? `${c.domain} (default)` : c.domain, c.names.join(', '), c.not_after.slice(0, 10), String(c.days_left), c.source, c.owner]);
  out.result(all.length === 0 ? 'No certificates: nap certs add DOMAIN --cert FILE --key FILE' : table(['domain', 'names', 'expires', 'days left', 'source', 'owner'], rows), all);
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the ${what} ${file}: ${(err as Error).message}`);
  }
}

/** nap certs add DOMAIN --cert FILE --key FILE: the key goes to the controller, which keeps it sealed and never gives it back. */
export async function addCert(api: ApiClient, out: Output, domain: string, o: { cert: string; key: string }): Promise<void> {
  const [cert, key] = await Promise.all([readPem(o.cert, 'certificate'), readPem(o.key, 'key')]);
  const added = await api.call<CertView>('POST', '/v1/certs', { domain, cert, key });
  out.result(`${added.domain}: served over HTTPS with this certificate (${added.names.join(', ')}), until ${added.not_after.slice(0, 10)}`, added);
}

export async function removeCert(api: ApiClient, out: Output, domain: string): Promise<void> {
  await api.call('DELETE', `/v1/certs/${encodeURIComponent(domain)}`);
  out.result(`${domain}: its certificate is removed; the router serves the default certificate for it now`, { domain, removed: true });
}
