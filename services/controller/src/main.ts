import { runService } from '@nap/common';
import { startController } from './controller.js';

await runService('controller', startController);
