import { join } from 'node:path';
import type { RequestHandler, Response } from 'express';
import { notFound, type DirectoryResource } from '@nap/common';

/**
 * The two things the directory server exposes, and where the DEA keeps them on disk:
 * `${deaDir}/instances/${id}/` (app/, logs/stdout.log, logs/stderr.log) and
 * `${deaDir}/staging/${id}/` (staging.log, and `done` once staging has finished).
 */
export type ResourceKind = DirectoryResource['kind'];

/** IDs are used as one path segment, so nothing that could name another directory gets through. */
export const RESOURCE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function resourceRoot(deaDir: string, resource: DirectoryResource): string {
  return resource.kind === 'instance'
    ? join(deaDir, 'instances', resource.instanceId)
    : join(deaDir, 'staging', resource.taskId);
}

/** Written by the DEA once a staging task will write nothing more to its log. */
export function stagingDoneFile(stagingRoot: string): string {
  return join(stagingRoot, 'done');
}

export function describeResource(resource: DirectoryResource): string {
  return resource.kind === 'instance' ? `instance ${resource.instanceId}` : `staging task ${resource.taskId}`;
}

export function resourceNotFound(resource: DirectoryResource): Error {
  return resource.kind === 'instance'
    ? notFound('instance_not_found', `no ${describeResource(resource)} on this DEA`)
    : notFound('staging_task_not_found', `no ${describeResource(resource)} on this DEA`);
}

/** Route middleware: turns `:id` into a resource (res.locals.resource), or 404 for an ID that cannot exist. */
export function resourceParam(kind: ResourceKind): RequestHandler {
  return (req, res, next) => {
    const id = String(req.params.id ?? '');
    if (!RESOURCE_ID.test(id)) {
      throw notFound(kind === 'instance' ? 'instance_not_found' : 'staging_task_not_found', `no such ${kind === 'instance' ? 'instance' : 'staging task'}`);
    }
    res.locals.resource = kind === 'instance' ? { kind, instanceId: id } : { kind, taskId: id };
    next();
  };
}

export function resourceOf(res: Response): DirectoryResource {
  return res.locals.resource as DirectoryResource;
}
