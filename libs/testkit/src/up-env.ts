import { freePort, waitForPort } from '@nap/common';
import { freeContainerSubnet } from './platform.js';

/** Two free ports in a row: `nap up` runs etcd's peer port next to its client port. */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 65535 && !(await waitForPort('127.0.0.1', port + 1, 100))) return port;
  }
}

/**
 * The settings a test gives `nap up`: its own NAP_HOME, installation id (so its containers are its
 * own to remove), free ports and a container subnet of its own (reserved until its process ends:
 * two `nap up` tests on the default subnet made one DEA fail to start until the other's was gone),
 * so that it runs beside other tests and any nap of the machine.
 */
export async function napUpEnv(home: string, installationId: string, etcdPort?: number): Promise<Record<string, string>> {
  const block = 20 + Math.floor(Math.random() * 39);
  return {
    NAP_HOME: home,
    NAP_NATS_URL: `nats://127.0.0.1:${await freePort()}`,
    NAP_ETCD_URLS: `http://127.0.0.1:${etcdPort ?? (await freePortPair())}`,
    NAP_CONTROLLER_PORT: String(await freePort()),
    NAP_ROUTER_PORT: String(await freePort()),
    NAP_ROUTER_STATUS_PORT: String(await freePort()),
    NAP_DIRECTORY_PORT: String(await freePort()),
    NAP_DEA_PORT_RANGE: `${block * 1000}-${block * 1000 + 999}`,
    NAP_INSTALLATION_ID: installationId,
    NAP_CONTAINER_SUBNET: await freeContainerSubnet(),
  };
}
