import { randomUUID } from 'node:crypto';
import { blobKeys } from '../../src/keys.js';

/** A well-formed dea.<id>.start body, as the controller sends it, with `over` on top. */
export function startMessage(appId: string, hash: string, over: Record<string, unknown> = {}) {
  return {
    app_id: appId,
    app_name: 'hello',
    version: randomUUID(),
    index: 0,
    instance_id: randomUUID(),
    droplet_key: blobKeys.droplet(appId, hash),
    droplet_hash: hash,
    limits: { memory_mb: 256, disk_mb: 1024, fds: 16384 },
    env: { PORT_NAME: 'x' },
    uris: ['hello.nap.localhost'],
    command: 'node server.js',
    health_check: { type: 'port' as const, timeout_s: 60 },
    ...over,
  };
}
