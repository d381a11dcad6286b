import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freeSubnet, makeBridge, makeHostNetwork, makeNat, removeBridgeAndNat, removeHostNetwork } from './cluster-network.js';
import { type ClusterState, type LocalHost, readState, saveState } from './cluster-state.js';
import { copyImage } from './commands.js';
import { startHostDockerd, stopHostDockerd } from './host-dockerd.js';

export interface ClusterOptions {
  /** Names the bridge, namespaces and table: [a-z0-9], at most 8 (an interface name has 15 bytes). */
  name: string;
  /** Where the hosts' engines, nap homes and the state file live. */
  dir: string;
  /** The image every host's engine gets from the machine's, as the DEA needs it. */
  stackImage: string;
  machineDockerSocket: string;
  progress(line: string): void;
}

export const NAME = /^[a-z0-9]{1,8}$/;

function hostOf(o: ClusterOptions, index: number, address: string): LocalHost {
  const dir = join(o.dir, `h${index}`);
  return {
    index,
    netns: `napc-${o.name}-${index}`,
    veth: `nc-${o.name}-${index}`,
    address,
    dir,
    dockerSocket: join(dir, 'docker.sock'),
    dockerdPid: null,
    napHome: join(dir, 'nap'),
  };
}

/**
 * N hosts on this machine, each with its own network namespace, address and dockerd, like `kind`
 * makes Kubernetes nodes. What is made is recorded before the next step, so that `down` after a
 * failure removes it all.
 */
export async function makeHosts(o: ClusterOptions, count: number): Promise<ClusterState> {
  if (!NAME.test(o.name)) throw new Error(`cluster name ${JSON.stringify(o.name)}: expected 1-8 of a-z and 0-9`);
  if ((await readState(o.dir)) !== null) throw new Error(`a local cluster is already recorded in ${o.dir}: run deploy/local-cluster down first`);
  const net = await freeSubnet();
  const state: ClusterState = { name: o.name, dir: o.dir, bridge: `nc-${o.name}`, gateway: net.gateway, subnet: net.subnet, natTable: null, forwardingWasOff: false, hosts: [] };
  await mkdir(o.dir, { recursive: true });
  await saveState(state);
  o.progress(`bridge ${state.bridge} on ${state.subnet}`);
  await makeBridge(state);
  state.natTable = `napc-${o.name}`;
  await saveState(state);
  state.forwardingWasOff = await makeNat(state);
  await saveState(state);
  for (let i = 1; i <= count; i++) {
    const host = hostOf(o, i, net.hostAddress(i));
    state.hosts.push(host);
    await saveState(state);
    await mkdir(host.dir, { recursive: true });
    await makeHostNetwork(state, host);
    o.progress(`host ${i}: namespace ${host.netns}, address ${host.address}`);
  }
  await Promise.all(
    state.hosts.map(async (host) => {
      host.dockerdPid = await startHostDockerd(host);
      await saveState(state);
      o.progress(`host ${host.index}: dockerd up; copying ${o.stackImage} into it`);
      await copyImage(o.stackImage, o.machineDockerSocket, host.dockerSocket);
      o.progress(`host ${host.index}: ${o.stackImage} loaded`);
    }),
  );
  return state;
}

/** Removes exactly what the state file records: engines (and their containers), namespaces, the bridge, the table, the folder. */
export async function removeHosts(dir: string, progress: (line: string) => void): Promise<ClusterState | null> {
  const state = await readState(dir);
  if (!state) return null;
  await Promise.all(
    state.hosts.map(async (host) => {
      await stopHostDockerd(host);
      await removeHostNetwork(host);
      progress(`host ${host.index}: removed`);
    }),
  );
  await removeBridgeAndNat(state);
  await rm(dir, { recursive: true, force: true });
  progress(`bridge ${state.bridge} and table ${state.natTable ?? '-'} removed`);
  return state;
}
