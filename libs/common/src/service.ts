import { createLogger, type Logger } from './log.js';
import { loadSettings, type Settings, SettingsError } from './settings.js';

/**
 * The whole of a service's main: read settings, start, stop cleanly on SIGTERM/SIGINT. A settings
 * problem is printed plainly (exit 2) rather than as a stack trace, since that is what a user can fix.
 */
export async function runService(name: string, start: (settings: Settings, log: Logger) => Promise<{ close(): Promise<void> }>): Promise<void> {
  let settings: Settings;
  try {
    settings = loadSettings();
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`nap ${name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(name, settings.logLevel);
  let running: { close(): Promise<void> };
  try {
    running = await start(settings, log);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`nap ${name}: ${err.message}\n`);
      process.exit(2);
    }
    log.fatal({ err }, 'could not start');
    process.exit(1);
  }
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      running
        .close()
        .catch((err) => log.error({ err }, 'stopping failed'))
        .finally(() => process.exit(0));
    });
  }
}
