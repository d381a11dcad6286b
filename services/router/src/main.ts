import { runService } from '@nap/common';
import { startRouter } from './router.js';

await runService('router', (settings, log) => startRouter(settings, log));
