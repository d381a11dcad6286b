import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { Bus, caPinOf, createLogger, JetStreamBlobstore, loadSettings } from '@nap/common';
import { nap } from '@nap/testkit';
import type { ClusterState } from '../../src/local-cluster/cluster-state.js';
import { makeHosts, removeHosts, startNap } from '../../src/local-cluster/local-cluster.js';

/** One instance as `nap app --json` lists it. */
export interface InstanceDetail {
  index: number;
  instance_id: string;
  state: string;
  host: string;
  port: number;
}

/** A local cluster of a test's own (its own name, folder and subnet), with nap up on it and a CLI pointed at it. */
export interface TestCluster {
  state: ClusterState;
  api: string;
  /** Every controller's API: host 1's, then host 2's. */
  apis: string[];
  /** The cluster's CA (PEM): its APIs and directory servers hold certificates of it. */
  ca: string;
  /** The CLI's environment: the API, the admin token, a NAP_HOME of the test's own. */
  env: Record<string, string>;
  /** The hosts' addresses, host 1 first. */
  hosts: string[];
  routerOf(index: number): string;
  instances(app: string): Promise<InstanceDetail[]>;
  /** The blobstore as the controller sees it, through the NATS server of one host only. */
  blobstoreVia(index: number): Promise<{ blobs: JetStreamBlobstore; bus: Bus; close(): Promise<void> }>;
  stop(): Promise<void>;
}

export async function startTestCluster(count: number): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'nap-cluster-'));
  const name = `t${randomBytes(3).toString('hex')}`;
  const settings = loadSettings();
  const clusterDir = join(dir, 'cluster');
  let state: ClusterState | null = null;
  const stop = async () => {
    await removeHosts(clusterDir, () => {}).catch((err: Error) => console.error(`removing the local cluster: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    state = await makeHosts({ name, dir: clusterDir, stackImage: settings.stackImage, machineDockerSocket: settings.dockerSocket, progress: () => {} }, count);
    const started = await startNap(state, { installationId: `lc-${name}`, progress: () => {} });
    const env = { NAP_API: started.api, NAP_TOKEN: started.token, NAP_HOME: join(dir, 'cli') };
    // The CLI trusts the cluster's CA as a user's would: through the pin nap up prints.
    const targeted = await nap(['target', started.api, '--ca-pin', caPinOf(started.ca)], env);
    if (targeted.code !== 0) throw new Error(`nap target ${started.api}: ${targeted.stderr}`);
    return {
      state,
      api: started.api,
      apis: started.apis,
      ca: started.ca,
      env,
      hosts: state.hosts.map((h) => h.address),
      routerOf: (index) => started.routers[index - 1],
      instances: async (app) => {
        const r = await nap(['app', app, '--json'], env);
        if (r.code !== 0) throw new Error(`nap app ${app}: ${r.stderr}`);
        return (JSON.parse(r.stdout) as { instance_details: InstanceDetail[] }).instance_details;
      },
      blobstoreVia: async (index) => {
        const host = state!.hosts[index - 1];
        const password = (await readFile(join(state!.hosts[0].napHome, 'credentials', 'nats-controller.password'), 'utf8')).trim();
        const viaOne = loadSettings({
          NAP_HOME: join(dir, 'cli'),
          NAP_NATS_URL: `nats://${host.address}:4222`,
          NAP_NATS_USER: 'controller',
          NAP_NATS_PASSWORD: password,
          // The cluster's NATS speaks TLS only.
          NAP_TLS_CA: join(state!.hosts[0].napHome, 'tls', 'ca.crt'),
        });
        const bus = await Bus.connect(viaOne, { name: 'test-blobs', log: createLogger('test-blobs', 'silent'), startupAttempts: 20 });
        try {
          return { blobs: await JetStreamBlobstore.open(bus), bus, close: () => bus.close() };
        } catch (err) {
          await bus.close();
          throw err;
        }
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
