import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { badRequest, packArchive } from '@nap/common';

const run = promisify(execFile);
const CLONE_TIMEOUT_MS = 120_000;
const URL_SHAPE = /^(https?|git|ssh|file):\/\/[^\s]+$|^[\w.-]+@[\w.-]+:[^\s]+$/;

/**
 * Clones a repository (one commit deep) and packs its tree as an app package. Only the protocols
 * named may be used: a local path (file://) reads the controller's own disk, so only admins get it.
 */
export async function cloneToPackage(url: string, ref: string | undefined, workDir: string, packageFile: string, allowLocal: boolean): Promise<void> {
  if (!URL_SHAPE.test(url)) throw badRequest('invalid_git_url', `${JSON.stringify(url)} is not a git URL (https://, git://, ssh:// or user@host:path)`);
  if (url.startsWith('file://') && !allowLocal) throw badRequest('invalid_git_url', 'file:// URLs are for admins only: use https:// or ssh://');
  if (ref !== undefined && !/^[\w./-]{1,200}$/.test(ref)) throw badRequest('invalid_git_ref', `${JSON.stringify(ref)} is not a branch or tag name`);
  const tree = `${workDir}/tree`;
  try {
    await run('git', ['clone', '--quiet', '--depth', '1', ...(ref ? ['--branch', ref] : []), '--', url, tree], {
      timeout: CLONE_TIMEOUT_MS,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ALLOW_PROTOCOL: allowLocal ? 'http:https:git:ssh:file' : 'http:https:git:ssh' },
    });
  } catch (err) {
    const detail = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').slice(-2).join(' ');
    throw badRequest('clone_failed', `could not clone ${url}${ref ? ` at ${ref}` : ''}: ${detail}`);
  }
  await rm(`${tree}/.git`, { recursive: true, force: true });
  const entries = await readdir(tree);
  if (entries.length === 0) throw badRequest('empty_repository', `${url} has no files to deploy`);
  await packArchive(tree, packageFile, entries);
}
