import { forbidden, notFound } from '@nap/common';
import { type Caller, mayTouch } from '../auth/bearer.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { AppRecord } from './app-record.js';

/** The app, if the caller may touch it: 404 when there is none, 403 when it is someone else's. */
export async function loadApp(apps: AppsRepository, name: string, caller: Caller | undefined): Promise<AppRecord> {
  const app = await apps.get(name);
  if (!app) throw notFound('app_not_found', `app ${name} does not exist: create it with nap push ${name}`);
  if (!mayTouch(caller, app.owner)) throw forbidden(`app ${name} belongs to another user`);
  return app;
}
