import { runService } from '@nap/common';
import { startDirectoryServer } from './server.js';

await runService('directory', (settings, log) => startDirectoryServer(settings, log));
