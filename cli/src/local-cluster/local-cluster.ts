import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freeSubnet, makeBridge, makeHostNetwork, makeNat, removeBridgeAndNat, removeHostNetwork, setHostLink } from './cluster-network.js';
import { type ClusterState, type LocalHost, readState, saveState } from './cluster-state.js';
import { dataRootFromTemplate, type Engine, killHost, makeTemplate, startEngine } from './host-dockerd.js';
import { adminToken, napOnHost } from './host-nap.js';
import { updateNodeSettings } from '../platform/node-settings.js';

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

const engineOf = (host: LocalHost): Engine => ({ dir: host.dir, socket: host.dockerSocket, netns: host.netns, label: `host ${host.index}` });

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
  o.progress(`loading ${o.stackImage} once, for every host's dockerd`);
  const template: Engine = { dir: join(o.dir, 'template'), socket: join(o.dir, 'template', 'docker.sock'), netns: null, label: 'the template' };
  await mkdir(template.dir, { recursive: true });
  await makeTemplate(template, o.stackImage, o.machineDockerSocket);
  await Promise.all(
    state.hosts.map(async (host) => {
      await dataRootFromTemplate(template, engineOf(host));
      host.dockerdPid = await startEngine(engineOf(host));
      await saveState(state);
      o.progress(`host ${host.index}: dockerd up, with ${o.stackImage}`);
    }),
  );
  return state;
}

/**
 * nap on the hosts: `nap up --advertise` on the first (engines, controller, router, DEA), then
 * `nap join` on every other with a token the first made (router and DEA).
 */
export async function startNap(state: ClusterState, o: { installationId: string; progress(line: string): void }): Promise<{ api: string; token: string; routers: string[] }> {
  for (const host of state.hosts) {
    await updateNodeSettings(host.napHome, { NAP_DOCKER_SOCKET: host.dockerSocket, NAP_INSTALLATION_ID: o.installationId, NAP_ROUTER_WORKERS: '1' });
  }
  const [first, ...others] = state.hosts;
  o.progress(`host 1: nap up --advertise ${first.address}`);
  const up = await napOnHost<{ api: string; join_command: string }>(first, ['up', '--no-setup', '--advertise', first.address]);
  const token = /--token (\S+)/.exec(up.join_command)![1];
  await Promise.all(
    others.map(async (host) => {
      o.progress(`host ${host.index}: nap join ${up.api}`);
      await napOnHost(host, ['join', up.api, '--no-setup', '--token', token, '--advertise', host.address, '--roles', 'router,dea']);
      o.progress(`host ${host.index}: joined`);
    }),
  );
  state.api = up.api;
  await saveState(state);
  return { api: up.api, token: await adminToken(first), routers: state.hosts.map((h) => `http://${h.address}:8080`) };
}

/** A host lost as a machine is lost: every process and container of it killed, and its link down. */
export async function loseHost(state: ClusterState, index: number): Promise<void> {
  const host = hostAt(state, index);
  await setHostLink(host, false);
  await killHost(engineOf(host));
}

/** `ip link set eth0 down` (or up) in the host: it runs on, cut off from the others. */
export async function cutHost(state: ClusterState, index: number, cut: boolean): Promise<void> {
  await setHostLink(hostAt(state, index), !cut);
}

function hostAt(state: ClusterState, index: number): LocalHost {
  const host = state.hosts.find((h) => h.index === index);
  if (!host) throw new Error(`no host ${index} in local cluster ${state.name}`);
  return host;
}

/** Removes exactly what the state file records: engines (and their containers), namespaces, the bridge, the table, the folder. */
export async function removeHosts(dir: string, progress: (line: string) => void): Promise<ClusterState | null> {
  const state = await readState(dir);
  if (!state) return null;
  await Promise.all(
    state.hosts.map(async (host) => {
      await killHost(engineOf(host));
      await removeHostNetwork(host);
      progress(`host ${host.index}: removed`);
    }),
  );
  await removeBridgeAndNat(state);
  await rm(dir, { recursive: true, force: true });
  progress(`bridge ${state.bridge} and table ${state.natTable ?? '-'} removed`);
  return state;
}
