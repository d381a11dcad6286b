import { createLogger, loadSettings, SettingsError } from '@nap/common';
import { startRouter } from './router.js';

let settings;
try {
  settings = loadSettings();
} catch (err) {
  if (!(err instanceof SettingsError)) throw err;
  console.error(err.message);
  process.exit(2);
}
const log = createLogger('router', settings.logLevel);

try {
  const router = await startRouter(settings, log);
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'stopping');
    router.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (err) {
  log.fatal({ err }, 'router failed to start');
  process.exit(1);
}
