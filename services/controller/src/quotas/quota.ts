import { NapError } from '@nap/common';
import type { AppRecord } from '../apps/app-record.js';
import { processSpecs } from '../apps/processes.js';
import type { Quota } from '../store/quotas-repository.js';

export type { Quota } from '../store/quotas-repository.js';

export type QuotaUse = Quota;

export const QUOTA_FIELDS = ['apps', 'instances', 'memory_mb'] as const;

/**
 * What these apps take from their owner's quota: every app counts towards `apps`; a started app's
 * desired instances of every process type count towards `instances`, and each instance's memory
 * towards `memory_mb`. A stopped app holds no instances, so scaling one is free until it starts.
 */
export function useOf(apps: AppRecord[]): QuotaUse {
  const use: QuotaUse = { apps: apps.length, instances: 0, memory_mb: 0 };
  for (const app of apps) {
    if (app.state !== 'STARTED') continue;
    for (const spec of processSpecs(app)) {
      use.instances += spec.instances;
      use.memory_mb += spec.instances * spec.memory_mb;
    }
  }
  return use;
}

const units: Record<(typeof QUOTA_FIELDS)[number], string> = { apps: 'apps', instances: 'instances', memory_mb: 'MB of memory' };

/** 403 quota_exceeded: the body says, per field, what is used now, what the change asked for and the limit. */
export class QuotaExceeded extends NapError {
  constructor(
    readonly user: string,
    readonly used: QuotaUse,
    readonly requested: QuotaUse,
    readonly limit: Quota,
    readonly over: (typeof QUOTA_FIELDS)[number][],
  ) {
    super(
      403,
      'quota_exceeded',
      `${over.map((f) => `${user}'s quota allows ${limit[f]} ${units[f]}; this would make ${requested[f]} (${used[f]} in use)`).join('; ')}: ` +
        `stop, scale down or delete another app, or ask an admin to raise it (nap quota ${user} --${over[0] === 'memory_mb' ? 'memory' : over[0]} N)`,
    );
  }

  override toBody() {
    return { error: { code: this.code, message: this.message, user: this.user, used: this.used, requested: this.requested, limit: this.limit, over: this.over } };
  }
}
