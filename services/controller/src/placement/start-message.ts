import { msg } from '@nap/common';
import type { AppRecord } from '../apps/app-record.js';

const FDS_LIMIT = 16_384;

/** The parts of dea.<id>.start that come from the app; the droplet is added once there is one. */
export function startMessageFor(app: AppRecord, index: number, instanceId: string, version: string, processType = msg.DEFAULT_PROCESS_TYPE) {
  return {
    app_id: app.id,
    app_name: app.name,
    version,
    index,
    instance_id: instanceId,
    limits: { memory_mb: app.memory_mb, disk_mb: app.disk_mb, fds: FDS_LIMIT },
    env: app.env,
    uris: app.routes,
    health_check: app.health_check,
    process_type: processType,
  } satisfies Omit<msg.DeaStart, 'droplet_key' | 'droplet_hash' | 'command' | 'droplet_type' | 'stack_variant' | 'image_id'>;
}
