import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ADMIN_GIT_PROTOCOLS, badRequest, DEVELOPER_GIT_PROTOCOLS, DEVELOPER_GIT_URL_ADVICE, mayCloneUrl, packArchive, removeCloneDir, runUnprivilegedGit, makeCloneDir } from '@nap/common';

const CLONE_TIMEOUT_MS = 120_000;
const URL_SHAPE = /^(https?|git|ssh|file):\/\/[^\s]+$|^[\w.-]+@[\w.-]+:[^\s]+$/;

/**
 * Clones a repository (one commit deep) and packs its tree as an app package. git runs as an
 * unprivileged user with nothing of the controller's (runUnprivilegedGit); developers get
 * http(s) only, admins also git://, ssh:// and file:// (which reads the controller's own disk).
 */
export async function cloneToPackage(url: string, ref: string | undefined, packageFile: string, role: 'admin' | 'developer' | undefined): Promise<void> {
  if (!URL_SHAPE.test(url)) throw badRequest('invalid_git_url', `${JSON.stringify(url)} is not a git URL (https://, git://, ssh:// or user@host:path)`);
  if (!mayCloneUrl(url, role)) throw badRequest('invalid_git_url', `${url} cannot be deployed by a developer: ${DEVELOPER_GIT_URL_ADVICE}`);
  if (ref !== undefined && !/^(?!-)[\w./-]{1,200}$/.test(ref)) throw badRequest('invalid_git_ref', `${JSON.stringify(ref)} is not a branch or tag name`);
  const work = await makeCloneDir('nap-clone-');
  const tree = join(work, 'tree');
  try {
    try {
      await runUnprivilegedGit(['clone', '--quiet', '--depth', '1', '--no-recurse-submodules', ...(ref ? ['--branch', ref] : []), '--', url, tree], {
        workDir: work,
        protocols: role === 'admin' ? ADMIN_GIT_PROTOCOLS : DEVELOPER_GIT_PROTOCOLS,
        timeoutMs: CLONE_TIMEOUT_MS,
      });
    } catch (err) {
      const e = err as { stderr?: string; killed?: boolean; message: string };
      const detail = e.killed ? `git took longer than ${CLONE_TIMEOUT_MS / 1000} s` : (e.stderr || e.message).trim().split('\n').slice(-2).join(' ');
      throw badRequest('clone_failed', `could not clone ${url}${ref ? ` at ${ref}` : ''}: ${detail}`);
    }
    const entries = (await readdir(tree)).filter((e) => e !== '.git');
    if (entries.length === 0) throw badRequest('empty_repository', `${url} has no files to deploy`);
    await packArchive(tree, packageFile, entries);
  } finally {
    await removeCloneDir(work);
  }
}
