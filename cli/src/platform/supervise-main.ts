// The supervisor of a local nap, started (detached) by `nap up`: see supervisor.ts.
import { createLogger } from '@nap/common';
import { Supervisor } from './supervisor.js';

const log = createLogger('supervisor', process.env.NAP_LOG_LEVEL ?? 'info');
const supervisor = await Supervisor.fromEnvironment(log);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'stopping: the programs keep running until nap down stops them');
    supervisor.stop();
  });
}
await supervisor.run();
// The programs it started are still its children (nap down stops them next): their handles would
// keep this process waiting for them, and nap down would wait out its grace period.
process.exit(0);
