import { realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RequestHandler, Response } from 'express';
import { notFound, type DirectoryResource, type Logger } from '@nap/common';
import type { InstanceSnapshot } from './instance-snapshot.js';
import { isInside } from './resolve-inside.js';

/**
 * The two things the directory server exposes, and where the DEA keeps them on disk: an instance's
 * directory (app/, logs/stdout.log, logs/stderr.log) is wherever the DEA's snapshot says (always
 * under `${deaDir}/instances/`); a staging task's is `${deaDir}/staging/${id}/` (staging.log, and
 * `done` once staging has finished), created by the DEA when staging starts.
 */
export type ResourceKind = DirectoryResource['kind'];

/** IDs are used as one path segment, so nothing that could name another directory gets through. */
export const RESOURCE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function instancesRoot(deaDir: string): string {
  return resolve(deaDir, 'instances');
}

export function stagingRoot(deaDir: string, taskId: string): string {
  return resolve(deaDir, 'staging', taskId);
}

/** A one-off task's directory: logs/stdout.log, logs/stderr.log, and `done` once it ended. */
export function taskRoot(deaDir: string, taskId: string): string {
  return resolve(deaDir, 'tasks', taskId);
}

/** Strictly below `root` (not `root` itself), compared with a trailing separator. */
export function isStrictlyInside(root: string, target: string): boolean {
  return target !== root && isInside(root, target);
}

/**
 * The directory of a resource, or null when there is none to serve (404). An instance is looked up
 * in the DEA's snapshot only; the directory it records must lie below `${deaDir}/instances/`, both as
 * written and after symlinks, or the instance is treated as unknown (and the oddity logged). The
 * returned path is real (symlinks resolved). A staging task's directory is derived from its ID, which
 * RESOURCE_ID keeps to a single path segment; whether it exists is left to the open.
 */
export async function locateResource(
  deaDir: string,
  snapshot: InstanceSnapshot,
  resource: DirectoryResource,
  log: Logger,
): Promise<string | null> {
  if (resource.kind === 'staging') return stagingRoot(deaDir, resource.taskId);
  if (resource.kind === 'task') return taskRoot(deaDir, resource.taskId);
  const entry = await snapshot.lookup(resource.instanceId);
  if (entry === undefined) return null;
  const root = instancesRoot(deaDir);
  if (!isStrictlyInside(root, entry.dir)) {
    log.warn({ instanceId: resource.instanceId, dir: entry.dir, instancesRoot: root }, 'the snapshot places an instance outside the instances directory: refused');
    return null;
  }
  let realDir: string;
  let realRoot: string;
  try {
    [realRoot, realDir] = await Promise.all([realpath(root), realpath(entry.dir)]);
  } catch {
    return null; // cleaned up already
  }
  if (!isStrictlyInside(realRoot, realDir)) {
    log.warn({ instanceId: resource.instanceId, dir: entry.dir, realDir }, 'an instance directory leads outside the instances directory: refused');
    return null;
  }
  return realDir;
}

/** After the open: the resource directory actually used is still below the real instances directory. */
export async function stillInInstancesRoot(deaDir: string, realResourceRoot: string): Promise<boolean> {
  try {
    return isStrictlyInside(await realpath(instancesRoot(deaDir)), realResourceRoot);
  } catch {
    return false;
  }
}

/** Written by the DEA once a staging task (or a one-off task) will write nothing more to its logs. */
export function stagingDoneFile(stagingRoot: string): string {
  return join(stagingRoot, 'done');
}

export function describeResource(resource: DirectoryResource): string {
  if (resource.kind === 'instance') return `instance ${resource.instanceId}`;
  return resource.kind === 'staging' ? `staging task ${resource.taskId}` : `task ${resource.taskId}`;
}

const NOT_FOUND_CODE: Record<ResourceKind, string> = { instance: 'unknown_instance', staging: 'staging_task_not_found', task: 'task_not_found' };

export function resourceNotFound(resource: DirectoryResource): Error {
  return notFound(NOT_FOUND_CODE[resource.kind], `no ${describeResource(resource)} on this DEA`);
}

/** Route middleware: turns `:id` into a resource (res.locals.resource), or 404 for an ID that cannot exist. */
export function resourceParam(kind: ResourceKind): RequestHandler {
  return (req, res, next) => {
    const id = String(req.params.id ?? '');
    if (!RESOURCE_ID.test(id)) throw notFound(NOT_FOUND_CODE[kind], `no such ${kind === 'staging' ? 'staging task' : kind}`);
    res.locals.resource = kind === 'instance' ? { kind, instanceId: id } : { kind, taskId: id };
    next();
  };
}

export function resourceOf(res: Response): DirectoryResource {
  return res.locals.resource as DirectoryResource;
}
