import { access } from 'node:fs/promises';
import type { RequestHandler } from 'express';
import { forbidden, notFound, type DirectoryResource, type Logger } from '@nap/common';
import { sendOpenedFile, setUntrustedContentHeaders } from './file-response.js';
import { followFile, type Follow, type FollowedFile } from './follow.js';
import { directoryListing } from './listing.js';
import { descriptorPath, openInside } from './resolve-inside.js';
import { describeResource, resourceNotFound, resourceRoot, stagingDoneFile } from './resources.js';
import { signedRequestOf } from './signature-check.js';

export interface ResourceRouteOptions {
  deaDir: string;
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
 * When a followed file will grow no more: a staging log once the DEA has written `done`; either
 * kind once its directory is gone (the instance was stopped, the task cleaned up), so that no
 * follow outlives what it follows.
 */
function writerFinished(resource: DirectoryResource, realRoot: string): () => Promise<boolean> {
  return async () => {
    if (resource.kind === 'staging' && (await exists(stagingDoneFile(realRoot)))) return true;
    return !(await exists(realRoot));
  };
}

/** After the signature check: the path inside the resource as a listing, a file (ranges), or a follow. */
export function resourcePathRoute({ deaDir, log, follows, pollMs }: ResourceRouteOptions): RequestHandler {
  return async (req, res) => {
    const { resource, path, tail } = signedRequestOf(res);
    const root = resourceRoot(deaDir, resource);
    const entry = await openInside(root, path);
    if (entry.outcome === 'outside') {
      log.warn({ resource: describeResource(resource), path, reason: entry.reason }, 'refused a path outside its directory');
      throw forbidden(`refused ${JSON.stringify(path)} in ${describeResource(resource)}: ${entry.reason}`);
    }
    if (entry.outcome === 'missing') {
      if (entry.what === 'resource') throw resourceNotFound(resource);
      throw notFound('path_not_found', `no ${path} in ${describeResource(resource)}`);
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
      { path: entry.requestedPath, reopen, writerFinished: writerFinished(resource, entry.realRoot) },
      log,
      pollMs,
    );
    follows.add(follow);
    void follow.stopped.then(() => follows.delete(follow));
  };
}
