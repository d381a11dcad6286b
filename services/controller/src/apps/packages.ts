import { type Blobstore, blobKeys, NapError } from '@nap/common';
import { inspectUpload } from '../api/upload.js';
import type { Caller } from '../auth/bearer.js';
import type { QuotaGuard } from '../quotas/quota-guard.js';
import type { HealthManager } from '../health/health-manager.js';
import type { Stager } from '../staging/stager.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { EventsRepository } from '../store/events-repository.js';
import { type AppRecord, needsStaging } from './app-record.js';

/**
 * A package (gzip'd tar of the app) becomes the app's bits: checked entry by entry, hashed by
 * content, stored by that hash. The same content again changes nothing and will not stage.
 */
export async function acceptPackage(apps: AppsRepository, blobs: Blobstore, app: AppRecord, file: string): Promise<{ package_hash: string; changed: boolean }> {
  const hash = await inspectUpload(file);
  const changed = needsStaging({ ...app, package: { hash, key: '', uploaded_at: '' } });
  if (app.package?.hash !== hash) {
    const key = blobKeys.package(app.id, hash);
    await blobs.putFile(key, file);
    // Older packages stay for rollback; releases.prune lets them go with their droplets.
    await apps.update(app.name, (fresh) => {
      fresh.package = { hash, key, uploaded_at: new Date().toISOString() };
      fresh.package_state = changed ? 'PENDING' : 'STAGED';
    });
  }
  return { package_hash: hash, changed };
}

export interface StartDeps {
  apps: AppsRepository;
  stager: Stager;
  events: EventsRepository;
  health: HealthManager;
  quota?: QuotaGuard;
}

/** Start: staging first when the bits (or the buildpack) changed since the droplet. */
export async function startApp(deps: StartDeps, name: string, actor: string, caller?: Caller): Promise<AppRecord> {
  let app = await deps.apps.get(name);
  if (!app) throw new NapError(404, 'app_not_found', `app ${name} does not exist`);
  if (!app.package) throw new NapError(409, 'no_bits', `app ${name} has no bits yet: run nap push ${name}`);
  if (app.state !== 'STARTED') {
    // A stopped app holds no instances: starting it is what takes them from the owner's quota.
    const markStarted = () =>
      deps.apps.update(name, async (a) => {
        if (a.state === 'STARTED') return false;
        await deps.quota?.check(caller, a, { ...a, state: 'STARTED' });
        a.state = 'STARTED';
      });
    app = (await (deps.quota ? deps.quota.serialize(caller, markStarted) : markStarted())) ?? app;
    await deps.events.record(app.id, 'started', actor);
  }
  if (needsStaging(app)) app = await deps.stager.stage(app, actor);
  await deps.health.poke(name);
  return (await deps.apps.get(name)) ?? app;
}
