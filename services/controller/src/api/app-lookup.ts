import { badRequest, forbidden, isAppName, notFound } from '@nap/common';
import { type Caller, mayTouch } from '../auth/bearer.js';
import type { Request } from 'express';
import type { AppRecord } from '../apps/app-record.js';
import type { AppsRepository } from '../store/apps-repository.js';

/** The :name of a request, refused with 400 unless it is a valid app name. */
export function appName(req: Request): string {
  const name = String(req.params.name);
  if (!isAppName(name)) {
    throw badRequest('invalid_app_name', `${JSON.stringify(name)} is not a valid app name: use 1-63 lowercase letters, digits and -, not starting or ending with -`);
  }
  return name;
}

/** The app, if the caller may touch it: 404 when there is none, 403 when it is someone else's. */
export async function loadApp(apps: AppsRepository, name: string, caller: Caller | undefined): Promise<AppRecord> {
  const app = await apps.get(name);
  if (!app) throw notFound('app_not_found', `app ${name} does not exist: create it with nap push ${name}`);
  if (!mayTouch(caller, app.owner)) throw forbidden(`app ${name} belongs to another user`);
  return app;
}
