import type { msg } from '@nap/common';
import type { AppRecord } from '../store/app-record.js';

// The record itself is the store's; the rules about it are the app lifecycle's.
export { type AppRecord, type AppState, type PackageState, type ProcessConfig, parseAppRecord } from '../store/app-record.js';

export const STACKS = ['bookworm'] as const;

export function startCommand(app: AppRecord): string | null {
  return app.command ?? app.droplet?.start_command ?? null;
}

/** How the DEA runs this droplet. */
export function dropletRun(droplet: NonNullable<AppRecord['droplet']>): msg.DropletRun {
  return { droplet_type: droplet.droplet_type ?? 'tgz', stack_variant: droplet.stack_variant, image_id: droplet.image_id };
}

export function appUrls(app: AppRecord): string[] {
  return app.routes.map((r) => `http://${r}`);
}

/** Whether the app's droplet is stale: other bits, or another buildpack named since it was staged. */
export function needsStaging(app: AppRecord): boolean {
  if (!app.package) return false;
  if (!app.droplet || app.droplet.source_hash !== app.package.hash) return true;
  return (app.droplet.buildpack_requested ?? null) !== app.buildpack;
}

/** A staging older than this is one whose controller died: it will never report. */
export function stagingAbandoned(app: AppRecord, stagingTimeoutS: number, now = Date.now()): boolean {
  return app.package_state === 'STAGING' && app.staging !== null && now - Date.parse(app.staging.started_at) > (stagingTimeoutS + 60) * 1000;
}

