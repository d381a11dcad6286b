import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { badRequest, DEVELOPER_GIT_URL_ADVICE, mayCloneUrl, msg, parseBuildpackChoice, stagingFailed } from '@nap/common';
import type { Caller } from '../auth/bearer.js';
import type { BuildpackRecord, BuildpacksRepository } from '../store/buildpacks-repository.js';

/** What a staging request says about buildpacks (StagingStart's buildpack, custom_buildpack, custom_buildpacks). */
export interface ResolvedBuildpacks {
  buildpack?: string;
  custom_buildpack?: msg.CustomBuildpack;
  custom_buildpacks?: msg.CustomBuildpack[];
}

/** A name for the folder a git buildpack is mounted at: the repository's name. */
export function gitBuildpackName(url: string): string {
  const last = url.replace(/\/+$/, '').split(/[/:]/).pop() ?? '';
  const name = last.replace(/\.git$/, '').toLowerCase().replace(/[^a-z0-9._-]/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 50);
  return name || 'buildpack';
}

export function toCustomBuildpack(record: BuildpackRecord): msg.CustomBuildpack {
  if (record.kind === 'git' && record.url) return { name: record.name, git_url: record.url, ...(record.ref ? { ref: record.ref } : {}) };
  return { name: record.name, blob_key: record.blob_key ?? undefined, hash: record.hash ?? undefined };
}

/**
 * Every buildpack an app may name: the built-in ones (the `order` file and folders of
 * NAP_BUILDPACKS_DIR), the admin ones in etcd, and git URLs.
 */
export class BuildpackCatalog {
  constructor(
    private readonly buildpacksDir: string,
    readonly repository: BuildpacksRepository,
  ) {}

  /** Built-in buildpacks in detection order. */
  async builtins(): Promise<string[]> {
    const order = (await readFile(join(this.buildpacksDir, 'order'), 'utf8').catch(() => ''))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const folders: string[] = [];
    for (const entry of await readdir(this.buildpacksDir, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory() && (await stat(join(this.buildpacksDir, entry.name, 'bin', 'compile')).catch(() => null))) folders.push(entry.name);
    }
    // `dockerfile` has no folder: the staging DEA builds the app's Dockerfile itself.
    return [...new Set([...order, ...folders.sort(), 'dockerfile'])];
  }

  private async choices(): Promise<string> {
    const builtins = await this.builtins();
    const admin = (await this.repository.list()).map((b) => b.name);
    return `built-in: ${builtins.join(', ') || 'none'}; admin: ${admin.join(', ') || 'none'}; or a git URL such as https://host/buildpack.git#ref`;
  }

  /** At PUT /v1/apps/:name: 400 unless the choice names a buildpack that exists, or is a git URL this caller may use. */
  async check(choice: string, caller: Caller | undefined): Promise<void> {
    const parsed = parseBuildpackChoice(choice);
    if (parsed.kind === 'invalid') throw badRequest('invalid_buildpack', parsed.reason);
    if (parsed.kind === 'git') {
      // The DEA cannot tell who named a URL: the protocols that reach past the web (the node's disk,
      // its network by git:// or ssh) are refused here for developers.
      if (!mayCloneUrl(parsed.url, caller?.role)) throw badRequest('invalid_buildpack', `${parsed.url} cannot be a developer's buildpack: ${DEVELOPER_GIT_URL_ADVICE}`);
      return;
    }
    if ((await this.builtins()).includes(parsed.name) || (await this.repository.get(parsed.name))) return;
    throw badRequest('unknown_buildpack', `unknown buildpack ${JSON.stringify(parsed.name)}: choose one of ${await this.choices()}`);
  }

  /** For a staging request: what the app's buildpack setting means now (an admin buildpack may have gone since). */
  async resolve(choice: string | null): Promise<ResolvedBuildpacks> {
    if (!choice) {
      const admin = (await this.repository.list()).map(toCustomBuildpack);
      return admin.length > 0 ? { custom_buildpacks: admin } : {};
    }
    const parsed = parseBuildpackChoice(choice);
    if (parsed.kind === 'invalid') throw stagingFailed(parsed.reason);
    if (parsed.kind === 'git') return { custom_buildpack: { name: gitBuildpackName(parsed.url), git_url: parsed.url, ...(parsed.ref ? { ref: parsed.ref } : {}) } };
    if ((await this.builtins()).includes(parsed.name)) return { buildpack: parsed.name };
    const record = await this.repository.get(parsed.name);
    if (record) return { custom_buildpack: toCustomBuildpack(record) };
    throw stagingFailed(`unknown buildpack ${JSON.stringify(parsed.name)}: choose one of ${await this.choices()}`);
  }
}
