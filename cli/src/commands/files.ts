import type { ApiClient } from '../api-client.js';
import { CliError } from '../config.js';
import type { Output } from '../output.js';

/** nap files: a directory listing or a file of an instance, through a signed directory-server URL. */
export async function files(api: ApiClient, out: Output, app: string, path: string | undefined, instance: number): Promise<void> {
  const clean = (path ?? '').replace(/^\/+/, '');
  // In the query, not the URL's path, where fetch would collapse a `..` before it is sent.
  const url = await api.redirectTarget(`/v1/apps/${encodeURIComponent(app)}/instances/${instance}/files${clean ? `?path=${encodeURIComponent(clean)}` : ''}`);
  const res = await api.fetch(url);
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new CliError(body?.error?.message ?? `the directory server answered ${res.status} for ${clean || '/'}`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (out.json) out.result('', { path: clean, content: body.toString('utf8') });
  else process.stdout.write(body);
}
