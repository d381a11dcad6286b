import type { msg } from '@nap/common';
import type { AppRecord } from '../apps/app-record.js';
import { type ProcessSpec, processSpecs } from '../apps/processes.js';
import { serviceEnvOf } from '../apps/service-env.js';

/** Open files an instance or a task may hold. */
export const FDS_LIMIT = 16_384;

/** The parts of dea.<id>.start that come from the app and the process type (web unless named); the droplet is added once there is one. */
export function startMessageFor(app: AppRecord, index: number, instanceId: string, version: string, spec: ProcessSpec = processSpecs(app)[0]) {
  return {
    app_id: app.id,
    app_name: app.name,
    version,
    index,
    instance_id: instanceId,
    limits: { memory_mb: spec.memory_mb, disk_mb: app.disk_mb, fds: FDS_LIMIT },
    ...serviceEnvOf(app),
    uris: spec.uris,
    health_check: spec.health_check,
    process_type: spec.type,
  } satisfies Omit<msg.DeaStart, 'droplet_key' | 'droplet_hash' | 'command' | 'droplet_type' | 'stack_variant' | 'image_id'>;
}
