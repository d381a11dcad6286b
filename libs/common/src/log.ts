import { pino, type Logger } from 'pino';

export type { Logger };

/** One JSON line per event on stdout; `nap up` sends each service's stdout to NAP_HOME/logs. */
export function createLogger(component: string, level = 'info'): Logger {
  return pino({ name: component, level, base: { component, pid: process.pid } });
}
