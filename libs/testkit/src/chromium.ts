import { existsSync } from 'node:fs';

/**
 * Debian's Chromium, which deploy/setup installs for the dashboard's browser tests and bench:
 * /usr/bin/chromium is a wrapper script, the browser itself is beside it.
 */
export function chromiumPath(): string | undefined {
  return ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));
}
