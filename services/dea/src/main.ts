import { runService } from '@nap/common';
import { startDea } from './dea.js';

await runService('dea', startDea);
