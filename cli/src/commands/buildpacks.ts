import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseBuildpackChoice } from '@nap/common/without-engines';
import type { ApiClient } from '../api-client.js';
import { CliError } from '../config.js';
import { type Output, table } from '../output.js';
import { packApp } from '../push/pack.js';

interface BuildpackView {
  name: string;
  kind: 'builtin' | 'git' | 'archive';
  url: string | null;
  ref: string | null;
  hash: string | null;
  position: number | null;
  created_at: string | null;
}

/** nap buildpacks: the built-in buildpacks, then the admin ones, in detection order. */
export async function listBuildpacks(api: ApiClient, out: Output): Promise<void> {
  const all = await api.call<BuildpackView[]>('GET', '/v1/buildpacks');
  const rows = all.map((b, i) => [
    i + 1,
    b.name,
    b.kind,
    b.kind === 'git' ? `${b.url}${b.ref ? `#${b.ref}` : ''}` : b.kind === 'archive' ? (b.hash ?? '').slice(0, 12) : '',
    b.created_at ?? '',
  ]);
  out.result(table(['#', 'name', 'kind', 'source', 'created'], rows), all);
}

/** nap create-buildpack NAME PATH|URL (admin): a git URL is recorded; a folder is packed and uploaded. */
export async function createBuildpack(api: ApiClient, out: Output, name: string, source: string): Promise<void> {
  const choice = parseBuildpackChoice(source);
  if (choice.kind === 'git') {
    const made = await api.call<BuildpackView>('POST', '/v1/buildpacks', { name, url: source });
    out.result(`Created buildpack ${made.name} from ${source} (position ${made.position})`, made);
    return;
  }
  const dir = resolve(source);
  if (!(await stat(dir).catch(() => null))?.isDirectory()) {
    throw new CliError(`${source} is neither a folder nor a git URL (https://, git://, ssh://, git@host:path or file://)`);
  }
  const work = await mkdtemp(join(tmpdir(), 'nap-buildpack-'));
  try {
    const file = join(work, 'buildpack.tgz');
    const files = await packApp(dir, file);
    const size = (await stat(file)).size;
    let shown = -1;
    const made = await api.upload<BuildpackView & { changed: boolean }>(`/v1/buildpacks/${encodeURIComponent(name)}/bits`, file, (sent, total) => {
      const pct = Math.floor((sent / total) * 100);
      if (pct >= shown + 25 || sent === total) {
        shown = pct;
        out.progress(`Uploading buildpack ${name}: ${files} files, ${(size / 1024).toFixed(1)} KB: ${pct}%`);
      }
    });
    out.result(`Buildpack ${made.name} is ${made.changed ? 'uploaded' : 'unchanged'} (${(made.hash ?? '').slice(0, 12)}, position ${made.position})`, made);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function deleteBuildpack(api: ApiClient, out: Output, name: string): Promise<void> {
  const done = await api.call<{ name: string; deleted: boolean }>('DELETE', `/v1/buildpacks/${encodeURIComponent(name)}`);
  out.result(`Deleted buildpack ${name}`, done);
}
