import { createLogger, type Logger } from './log.js';
import { isAlive } from './processes.js';
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
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'stopping');
    running
      .close()
      .catch((err) => log.error({ err }, 'stopping failed'))
      .finally(() => process.exit(0));
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(signal));
  // Test platforms start services detached; if the test process is killed, its services must not live on.
  const parent = Number(process.env.NAP_PARENT_PID);
  if (Number.isInteger(parent) && parent > 0) {
    setInterval(() => {
      if (!isAlive(parent)) stop(`parent ${parent} is gone`);
    }, 1000).unref();
  }
}
