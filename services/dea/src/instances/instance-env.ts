import type { msg } from '@nap/common';
import { APP_PORT } from '../network/firewall.js';

export const APP_HOME = '/home/vcap/app';

/**
 * CONTRACT §5: what an app sees in its environment. The app's own env comes last and may override
 * PATH, not the platform's. The app listens on PORT (always APP_PORT, in its own namespace, as
 * Garden gave 8080); `host:hostPort` is where the router and other hosts reach it
 * (NAP_INSTANCE_ADDR, as Cloud Foundry's CF_INSTANCE_ADDR).
 */
export function instanceEnv(start: msg.DeaStart, host: string, hostPort: number, now = Date.now()): Record<string, string> {
  const vcapApplication = {
    application_id: start.app_id,
    application_name: start.app_name,
    application_uris: start.uris,
    instance_id: start.instance_id,
    instance_index: start.index,
    process_type: start.process_type,
    host: '0.0.0.0',
    port: APP_PORT,
    limits: { mem: start.limits.memory_mb, disk: start.limits.disk_mb, fds: start.limits.fds },
    version: start.version,
    start: new Date(now).toISOString(),
  };
  return {
    PATH: `${APP_HOME}/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    ...start.env,
    HOME: APP_HOME,
    PORT: String(APP_PORT),
    NAP_INSTANCE_ADDR: `${host}:${hostPort}`,
    NAP_INSTANCE_PORT: String(hostPort),
    VCAP_APPLICATION: JSON.stringify(vcapApplication),
    VCAP_SERVICES: start.vcap_services ?? '{}',
    NAP_INSTANCE_INDEX: String(start.index),
    NAP_PROCESS_TYPE: start.process_type,
    MEMORY_LIMIT: `${start.limits.memory_mb}m`,
  };
}
