import { createLogger, loadSettings, requireSetting, SettingsError } from '@nap/common';
import { startDirectoryServer } from './server.js';

let settings;
try {
  settings = loadSettings();
  requireSetting(settings, 'directorySecret', 'NAP_DIRECTORY_SECRET');
} catch (err) {
  if (!(err instanceof SettingsError)) throw err;
  process.stderr.write(`nap directory: ${err.message}\n`);
  process.exit(2);
}
const log = createLogger('directory', settings.logLevel);
const server = await startDirectoryServer(settings, log);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'stopping');
    void server.close().finally(() => process.exit(0));
  });
}
