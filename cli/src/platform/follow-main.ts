// Under systemd (nap systemd), what the supervisor does besides running the programs: this node
// follows the cluster's engines (engine-follower.ts), and systemd restarts or reloads NATS.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createLogger, loadEngineCredentials, loadSettings } from '@nap/common';
import { followEnginePeersForever } from './engine-follower.js';
import { PlatformState } from './state.js';

const run = promisify(execFile);
const log = createLogger('follow', process.env.NAP_LOG_LEVEL ?? 'info');
const settings = loadSettings();
const state = new PlatformState(settings.home);
const stopping = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stopping.abort());
await followEnginePeersForever(settings, await loadEngineCredentials(state.credentialsDir), log, stopping.signal, async (how) => {
  await run('systemctl', how === 'clustered' ? ['restart', 'nap-nats.service'] : ['kill', '--signal=SIGHUP', 'nap-nats.service']);
});
