import { existsSync } from 'node:fs';
import { constants, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';

/**
 * Confinement of a requested path to a resource directory (CONTRACT §7). The app in an instance
 * can write into its own directory, so anything in it may be a symlink, and may be swapped for one
 * between a check and a use: the path is checked lexically, then by realpath, and finally the
 * descriptor actually opened is checked again (through /proc/self/fd), and only that descriptor
 * is read from.
 */

export type Refusal = { outcome: 'outside'; reason: string } | { outcome: 'missing'; what: 'resource' | 'path' };

export interface OpenedEntry {
  outcome: 'opened';
  kind: 'file' | 'directory';
  handle: FileHandle;
  /** Absolute path of the request before symlinks: what a follower watches for rotation. */
  requestedPath: string;
  realPath: string;
  realRoot: string;
  size: number;
  mtime: Date;
  ino: number;
  dev: number;
}

/** With a trailing separator, so a sibling `…/abcd` is not inside `…/abc`. */
export function isInside(realRoot: string, realTarget: string): boolean {
  if (realTarget === realRoot) return true;
  const prefix = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  return realTarget.startsWith(prefix);
}

const procFd = existsSync('/proc/self/fd');

/** A path naming the opened descriptor itself where the OS offers one, else its checked real path. */
export function descriptorPath(entry: OpenedEntry): string {
  return procFd ? `/proc/self/fd/${entry.handle.fd}` : entry.realPath;
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function refusalFor(err: unknown, what: 'resource' | 'path'): Refusal {
  const code = errorCode(err);
  // A name longer than the filesystem allows cannot exist either.
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return { outcome: 'missing', what };
  if (code === 'ELOOP') return { outcome: 'outside', reason: 'too many symlinks' };
  if (code === 'EACCES' || code === 'EPERM' || code === 'ENXIO') return { outcome: 'outside', reason: `not readable (${code})` };
  throw err;
}

/** The real path of `relative` under `root`, or why it may not be served. Nothing is opened. */
export async function resolveInside(
  root: string,
  relative: string,
): Promise<Refusal | { outcome: 'inside'; requestedPath: string; realPath: string; realRoot: string }> {
  if (relative.includes('\0')) return { outcome: 'outside', reason: 'NUL byte in path' };
  if (isAbsolute(relative)) return { outcome: 'outside', reason: 'absolute path' };
  const lexicalRoot = resolve(root);
  const requestedPath = resolve(lexicalRoot, relative);
  if (!isInside(lexicalRoot, requestedPath)) return { outcome: 'outside', reason: '.. leaves the directory' };
  let realRoot: string;
  try {
    realRoot = await realpath(lexicalRoot);
  } catch (err) {
    return refusalFor(err, 'resource');
  }
  let realPath: string;
  try {
    realPath = await realpath(requestedPath);
  } catch (err) {
    return refusalFor(err, 'path');
  }
  if (!isInside(realRoot, realPath)) return { outcome: 'outside', reason: 'symlink leads outside the directory' };
  return { outcome: 'inside', requestedPath, realPath, realRoot };
}

/**
 * Resolves and opens. O_NONBLOCK keeps a FIFO planted by an app from blocking a libuv thread
 * forever on open; anything that is not a regular file or a directory is refused.
 */
export async function openInside(root: string, relative: string): Promise<Refusal | OpenedEntry> {
  const resolved = await resolveInside(root, relative);
  if (resolved.outcome !== 'inside') return resolved;
  let handle: FileHandle;
  try {
    handle = await open(resolved.realPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return refusalFor(err, 'path');
  }
  try {
    if (procFd) {
      const opened = await readlink(`/proc/self/fd/${handle.fd}`);
      if (opened.endsWith(' (deleted)')) {
        await handle.close();
        return { outcome: 'missing', what: 'path' };
      }
      if (!isInside(resolved.realRoot, opened)) {
        await handle.close();
        return { outcome: 'outside', reason: 'replaced by a symlink leading outside while being opened' };
      }
    }
    const stats = await handle.stat();
    const kind = stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : undefined;
    if (kind === undefined) {
      await handle.close();
      return { outcome: 'outside', reason: 'not a regular file or directory' };
    }
    return {
      outcome: 'opened',
      kind,
      handle,
      requestedPath: resolved.requestedPath,
      realPath: resolved.realPath,
      realRoot: resolved.realRoot,
      size: stats.size,
      mtime: stats.mtime,
      ino: stats.ino,
      dev: stats.dev,
    };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}
