import { databaseUrlOf, vcapServicesOf } from '@nap/common';
import type { AppRecord } from './app-record.js';

/**
 * What an app's bound services add to its instances and tasks (docs/contract.md §2.14): VCAP_SERVICES
 * in Cloud Foundry's shape, and DATABASE_URL, as Heroku's add-ons set it, unless the app's own env
 * sets one.
 */
export function serviceEnvOf(app: Pick<AppRecord, 'env' | 'services'>): { env: Record<string, string>; vcap_services?: string } {
  const bindings = app.services ?? [];
  if (bindings.length === 0) return { env: app.env };
  const databaseUrl = databaseUrlOf(bindings);
  return {
    env: databaseUrl && app.env.DATABASE_URL === undefined ? { ...app.env, DATABASE_URL: databaseUrl } : app.env,
    vcap_services: vcapServicesOf(bindings),
  };
}
