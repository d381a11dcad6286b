import { randomBytes } from 'node:crypto';
import { createLogger, freePort, loadSettings } from '@nap/common';
import { type Engines, startEngines } from '@nap/testkit';
import { startController } from '../../src/index.js';

export interface ApiHarness {
  api: string;
  token: string;
  auth: { Authorization: string };
  engines: Engines;
  close(): Promise<void>;
}

/** A controller in this process on real NATS and etcd, with no DEA: for testing the API itself. */
export async function startApi(env: Record<string, string> = {}): Promise<ApiHarness> {
  const engines = await startEngines();
  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  const controller = await startController(
    loadSettings({
      ...engines.env,
      NAP_CONTROLLER_PORT: String(port),
      NAP_ADMIN_TOKEN: token,
      NAP_DIRECTORY_SECRET: randomBytes(24).toString('hex'),
      NAP_LOG_LEVEL: 'silent',
      ...env,
    }),
    createLogger('test', 'silent'),
  );
  return {
    api: `http://127.0.0.1:${port}`,
    token,
    auth: { Authorization: `Bearer ${token}` },
    engines,
    async close() {
      await controller.close();
      await engines.stop();
    },
  };
}
