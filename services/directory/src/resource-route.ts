import { access } from 'node:fs/promises';
import type { RequestHandler } from 'express';
import { forbidden, notFound, type DirectoryResource, type Logger } from '@nap/common';
import { sendOpenedFile, setUntrustedContentHeaders } from './file-response.js';
import { followFile, type Follow, type FollowedFile } from './follow.js';
import { directoryListing } from './listing.js';
import type { InstanceSnapshot } from './instance-snapshot.js';
import { descriptorPath, openInside } from './resolve-inside.js';
import { describeResource, locateResource, resourceNotFound, stagingDoneFile, stillInInstancesRoot } from './resources.js';
import { signedRequestOf } from './signature-check.js';

export interface ResourceRouteOptions {
  deaDir: string;
  /** The DEA's instance snapshot: the only source of which instances exist and where. */
  snapshot: InstanceSnapshot;
  log: Logger;
  /** Every follow in progress, so that shutting down can end them cleanly. */
  follows: Set<Follow>;
  pollMs?: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * When a followed file will grow no more: a staging log once the DEA has written `done`; an
 * instance's once the DEA's snapshot no longer lists it (it was cleaned up); either kind once its
 * directory is gone, so that no follow outlives what it follows.
 */
function writerFinished(resource: DirectoryResource, realRoot: string, snapshot: InstanceSnapshot): () => Promise<boolean> {
  return async () => {
    if (resource.kind !== 'instance' && (await exists(stagingDoneFile(realRoot)))) return true;
    if (resource.kind === 'instance' && (await snapshot.lookup(resource.instanceId)) === undefined) return true;
    return !(await exists(realRoot));
  };
}

/**
 * Where a follow starts: `Range: bytes=N-` starts at byte N (at the end if N is past it),
 * `bytes=-N` at the last N bytes; no Range, or any other form, at the beginning. The answer is a
 * 200 stream either way, since its length is not known.
 */
export function followStart(rangeHeader: string | undefined, size: number): number {
  if (rangeHeader === undefined) return 0;
  const from = /^\s*bytes\s*=\s*(\d+)\s*-\s*$/.exec(rangeHeader);
  if (from) return Math.min(Number(from[1]), size);
  const suffix = /^\s*bytes\s*=\s*-\s*(\d+)\s*$/.exec(rangeHeader);
  if (suffix) return Math.max(0, size - Number(suffix[1]));
  return 0;
}

/** After the signature check: the path inside the resource as a listing, a file (ranges), or a follow. */
export function resourcePathRoute({ deaDir, snapshot, log, follows, pollMs }: ResourceRouteOptions): RequestHandler {
  return async (req, res) => {
    const { resource, path, tail } = signedRequestOf(res);
    const root = await locateResource(deaDir, snapshot, resource, log);
    if (root === null) throw resourceNotFound(resource);
    const entry = await openInside(root, path);
    if (entry.outcome === 'outside') {
      log.warn({ resource: describeResource(resource), path, reason: entry.reason }, 'refused a path outside its directory');
      throw forbidden(`refused ${JSON.stringify(path)} in ${describeResource(resource)}: ${entry.reason}`);
    }
    if (entry.outcome === 'missing') {
      if (entry.what === 'resource') throw resourceNotFound(resource);
      throw notFound('path_not_found', `no ${path} in ${describeResource(resource)}`);
    }
    // Defence in depth: the instance directory, as actually opened, is still one the DEA manages.
    if (resource.kind === 'instance' && !(await stillInInstancesRoot(deaDir, entry.realRoot))) {
      log.warn({ resource: describeResource(resource), realRoot: entry.realRoot }, 'an instance directory left the instances directory while being opened');
      await entry.handle.close().catch(() => undefined);
      throw resourceNotFound(resource);
    }

    if (entry.kind === 'directory') {
      let listing: string;
      try {
        listing = await directoryListing(descriptorPath(entry));
      } finally {
        await entry.handle.close();
      }
      res.type('text/plain; charset=utf-8').setHeader('Cache-Control', 'no-cache');
      res.send(listing);
      return;
    }
    if (!tail || req.method === 'HEAD') {
      await sendOpenedFile(req, res, entry);
      return;
    }
    res.status(200);
    setUntrustedContentHeaders(res, entry.requestedPath);
    res.setHeader('Cache-Control', 'no-store');
    res.flushHeaders(); // the client learns at once that the file exists and is being followed
    const reopen = async (): Promise<FollowedFile | null> => {
      const next = await openInside(root, path);
      if (next.outcome !== 'opened') return null;
      if (next.kind !== 'file') {
        await next.handle.close();
        return null;
      }
      return next;
    };
    const follow = followFile(
      entry,
      res,
      { path: entry.requestedPath, reopen, writerFinished: writerFinished(resource, entry.realRoot, snapshot) },
      log,
      pollMs,
      followStart(req.headers.range, entry.size),
    );
    follows.add(follow);
    void follow.stopped.then(() => follows.delete(follow));
  };
}
