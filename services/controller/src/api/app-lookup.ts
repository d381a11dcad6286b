import { badRequest, isAppName, notFound } from '@nap/common';
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

export async function loadApp(apps: AppsRepository, name: string): Promise<AppRecord> {
  const app = await apps.get(name);
  if (!app) throw notFound('app_not_found', `app ${name} does not exist: create it with nap push ${name}`);
  return app;
}
