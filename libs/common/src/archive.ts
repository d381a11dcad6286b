import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { mkdir } from 'node:fs/promises';
import { posix } from 'node:path';
import * as tar from 'tar';
import { ArchiveLinks, MAX_LINK_NESTING } from './archive-links.js';

/** Why an uploaded archive was refused; the message names the offending entry. */
export class UnsafeArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeArchiveError';
  }
}

export interface ArchiveLimits {
  maxEntries: number;
  maxBytes: number;
  /** Symbolic and hard links together: each is resolved through the others before anything is extracted. */
  maxLinks?: number;
  /** All link targets together: resolving links costs time in proportion to this, whatever their number. */
  maxLinkTargetBytes?: number;
}

/** A big node_modules has tens of thousands of links of a few dozen bytes: 1 MiB of targets in all is far past it. */
export const defaultArchiveLimits: ArchiveLimits = { maxEntries: 200_000, maxBytes: 4 * 1024 ** 3, maxLinks: 50_000, maxLinkTargetBytes: 1024 * 1024 };

/** Linux's PATH_MAX: no entry path or link target the kernel could use is longer. */
export const MAX_ARCHIVE_PATH_BYTES = 4096;

/** Links resolved between two turns of the event loop: 256 links of 4 KB targets are a few ms, so a big archive starves neither the API nor a DEA's lease. */
const LINKS_PER_TURN = 256;

/** How far the inflated stream may run past what its entries account for (long-name headers, end blocks). */
const TRAILING_SLACK_BYTES = 1024 * 1024;

const allowedTypes = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

/** Lexically resolves `target` against `from` (both relative to the archive root); null if it leaves the root. */
function insideRoot(from: string, target: string): string | null {
  if (posix.isAbsolute(target)) return null;
  const resolved = posix.normalize(posix.join(posix.dirname(from), target));
  if (resolved === '..' || resolved.startsWith('../')) return null;
  return resolved;
}

function checkEntryPath(path: string): string {
  if (Buffer.byteLength(path) > MAX_ARCHIVE_PATH_BYTES) throw new UnsafeArchiveError(`entry ${JSON.stringify(path.slice(0, 100))}… is longer than ${MAX_ARCHIVE_PATH_BYTES} bytes`);
  if (path.includes('\0')) throw new UnsafeArchiveError(`entry ${JSON.stringify(path)} has a NUL byte`);
  if (posix.isAbsolute(path) || /^[A-Za-z]:/.test(path)) throw new UnsafeArchiveError(`entry ${JSON.stringify(path)} is an absolute path`);
  if (path.split('/').includes('..')) throw new UnsafeArchiveError(`entry ${JSON.stringify(path)} leaves the archive with ..`);
  return posix.normalize(path);
}

/**
 * Reads a gzip'd tar without writing anything and refuses it when any entry could land outside
 * the directory it is extracted to: absolute paths, `..`, links pointing out, devices, or too much.
 * Returns a hash of the content (paths, executable bits, bytes; not times or owners), so the same
 * directory packed twice has the same hash.
 */
export async function inspectArchive(file: string, limits: ArchiveLimits = defaultArchiveLimits): Promise<{ contentHash: string; entries: number; bytes: number }> {
  const lines: string[] = [];
  let problem: Error | null = null;
  let entries = 0;
  let bytes = 0;
  const pending: Promise<void>[] = [];
  const links: { type: string; path: string; target: string }[] = [];
  const linkTree = new ArchiveLinks();
  const maxLinks = limits.maxLinks ?? defaultArchiveLimits.maxLinks ?? Infinity;
  const maxLinkTargetBytes = limits.maxLinkTargetBytes ?? defaultArchiveLimits.maxLinkTargetBytes ?? Infinity;
  let linkTargetBytes = 0;
  // Bytes the entries account for (header + padded body). node-tar spends quadratic time on zero
  // blocks after the end of the archive, and a few hundred KB of gzip inflate to that much: so the
  // inflated stream may run only a little past what the entries explain.
  let accounted = 0;
  let inflated = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      inflated += chunk.length;
      if (inflated - accounted > TRAILING_SLACK_BYTES) done(new UnsafeArchiveError('too much data after the end of the archive'));
      else done(null, chunk);
    },
  });
  const source = createReadStream(file);
  const parser = tar.t({
    strict: true,
    onReadEntry: (entry) => {
      accounted += 512 + Math.ceil((entry.size ?? 0) / 512) * 512;
      if (problem) {
        entry.resume();
        return;
      }
      try {
        entries += 1;
        bytes += entry.size ?? 0;
        if (entries > limits.maxEntries) throw new UnsafeArchiveError(`more than ${limits.maxEntries} entries`);
        if (bytes > limits.maxBytes) throw new UnsafeArchiveError(`more than ${limits.maxBytes} bytes once unpacked`);
        if (!allowedTypes.has(entry.type)) throw new UnsafeArchiveError(`entry ${JSON.stringify(entry.path)} is a ${entry.type}, not a file, directory or link`);
        const path = checkEntryPath(entry.path);
        if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
          const target = entry.linkpath ?? '';
          if (links.length >= maxLinks) throw new UnsafeArchiveError(`more than ${maxLinks} links`);
          if (Buffer.byteLength(target) > MAX_ARCHIVE_PATH_BYTES) throw new UnsafeArchiveError(`link ${JSON.stringify(path)} has a target longer than ${MAX_ARCHIVE_PATH_BYTES} bytes`);
          linkTargetBytes += Buffer.byteLength(target);
          if (linkTargetBytes > maxLinkTargetBytes) throw new UnsafeArchiveError(`its links' targets add up to more than ${maxLinkTargetBytes} bytes`);
          const resolved = entry.type === 'SymbolicLink' ? insideRoot(path, target) : insideRoot('x', target);
          if (resolved === null) throw new UnsafeArchiveError(`link ${JSON.stringify(path)} points outside the archive (${target})`);
          links.push({ type: entry.type, path, target });
          if (entry.type === 'SymbolicLink') linkTree.addSymlink(path, target);
          lines.push(`${entry.type} ${path} -> ${target}`);
          entry.resume();
          return;
        }
        if (entry.type === 'Directory') {
          lines.push(`Directory ${path.replace(/\/$/, '')}`);
          entry.resume();
          return;
        }
        const hash = createHash('sha256');
        const exec = ((entry.mode ?? 0) & 0o111) !== 0 ? 'x' : '-';
        pending.push(
          new Promise<void>((resolve) => {
            entry.on('data', (chunk: Buffer) => hash.update(chunk));
            entry.on('end', () => {
              lines.push(`File ${path} ${exec} ${hash.digest('hex')}`);
              resolve();
            });
          }),
        );
      } catch (e) {
        problem = e as Error;
        entry.resume();
        // Refused: the rest need not be inflated and parsed (a crafted upload inflates 150-fold).
        source.destroy(problem);
      }
    },
  });
  // Extended headers (PAX records, GNU long names) are bytes too: without them, many long names looked like trailing data.
  parser.on('meta', (meta: string) => {
    accounted += 512 + Math.ceil(Buffer.byteLength(meta) / 512) * 512;
  });
  await pipeline(source, createGunzip(), counter, parser as unknown as NodeJS.WritableStream).catch((e: Error) => {
    problem ??= e instanceof UnsafeArchiveError ? e : new UnsafeArchiveError(`not a readable gzip'd tar: ${e.message}`);
  });
  // A broken stream (a truncated gzip) can leave an entry that never ends: do not wait for it.
  if (problem) throw problem;
  await Promise.all(pending);
  if (problem) throw problem;
  // Links can go through links that come later in the archive, so follow them once all are known.
  for (const [i, l] of links.entries()) {
    if (i > 0 && i % LINKS_PER_TURN === 0) await new Promise((r) => setImmediate(r));
    const inside = l.type === 'SymbolicLink' ? linkTree.symlinkStaysInside(l.path, l.target) : linkTree.hardLinkStaysInside(l.target);
    if (!inside) throw new UnsafeArchiveError(`link ${JSON.stringify(l.path)} points outside the archive, into a loop or through more than ${MAX_LINK_NESTING} nested links (${l.target}, followed through the archive's other links)`);
  }
  lines.sort();
  return { contentHash: createHash('sha256').update(lines.join('\n')).digest('hex'), entries, bytes };
}

/** Extracts an archive that inspectArchive accepted. Ownership is forced when given (the apps run as vcap). */
export async function extractArchive(file: string, dest: string, owner?: { uid: number; gid: number }): Promise<void> {
  await mkdir(dest, { recursive: true });
  await tar.x({
    file,
    cwd: dest,
    strict: true,
    preservePaths: false,
    ...(owner ? { uid: owner.uid, gid: owner.gid, preserveOwner: false } : { preserveOwner: false }),
  });
}

/** Packs `entries` (relative to `cwd`) into a gzip'd tar without owners or times that would change the hash. */
export async function packArchive(cwd: string, file: string, entries: string[], filter?: (path: string) => boolean): Promise<void> {
  await tar.c(
    {
      gzip: true,
      cwd,
      file,
      portable: true,
      noMtime: false,
      filter: filter ? (p) => filter(p) : undefined,
    },
    entries,
  );
}

/** sha256 of a file's bytes, read as a stream (droplets are large). */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function sha256File(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
