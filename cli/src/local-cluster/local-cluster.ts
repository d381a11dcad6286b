import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { caPinOf, sleep, tlsFilesOf } from '@nap/common';
import { freeSubnet, makeBridge, makeHostNetwork, makeNat, removeBridgeAndNat, removeHostNetwork, setHostLink } from './cluster-network.js';
import { type ClusterState, type LocalHost, readState, saveState, stateFile } from './cluster-state.js';
import { run } from './commands.js';
import { dataRootFromTemplate, type Engine, killHost, makeTemplate, startEngine, unmountUnder } from './host-dockerd.js';
import { adminToken, napOnHost } from './host-nap.js';
import { trustingCa } from '../http.js';
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

const engineOf = (host: LocalHost): Engine => ({ dir: host.dir, socket: host.dockerSocket, netns: host.netns, cgroupParent: host.cgroupParent, label: `host ${host.index}` });

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
    cgroupParent: `napc-${o.name}-${index}`,
    napHome: join(dir, 'nap'),
  };
}

/** Refuses names another cluster (or anything else on the machine) already uses: down removes what carries them. */
async function namesAreFree(o: ClusterOptions, count: number): Promise<void> {
  const links = (JSON.parse(await run('ip', ['-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname);
  const namespaces = (await run('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]);
  const tables = await run('nft', ['list', 'tables']);
  const wanted = [`nc-${o.name}`, ...Array.from({ length: count }, (_, i) => `nc-${o.name}-${i + 1}`)];
  const taken = [
    ...wanted.filter((n) => links.includes(n)),
    ...namespaces.filter((n) => n.startsWith(`napc-${o.name}-`)),
    ...(tables.split('\n').some((l) => l.trim() === `table ip napc-${o.name}`) ? [`nft table ip napc-${o.name}`] : []),
  ];
  if (taken.length) throw new Error(`${taken.join(', ')} already exist on this machine: another local cluster named ${o.name}? (down it, or up with --name)`);
}

/**
 * N hosts on this machine, each with its own network namespace, address and dockerd, like `kind`
 * makes Kubernetes nodes. Each thing is recorded in the state file just before it is made, after
 * its name was found free: `down` after a failure removes it all, and nothing else.
 */
export async function makeHosts(o: ClusterOptions, count: number): Promise<ClusterState> {
  if (!NAME.test(o.name)) throw new Error(`cluster name ${JSON.stringify(o.name)}: expected 1-8 of a-z and 0-9`);
  const dir = resolve(o.dir);
  if ((await readState(dir)) !== null) throw new Error(`a local cluster is already recorded in ${dir}: run deploy/local-cluster down first`);
  if ((await readdir(dir).catch(() => [])).length > 0) throw new Error(`${dir} is not empty: a local cluster needs a folder of its own (down removes it)`);
  await namesAreFree(o, count);
  o = { ...o, dir };
  const net = await freeSubnet();
  const state: ClusterState = { name: o.name, dir, bridge: `nc-${o.name}`, gateway: net.gateway, subnet: net.subnet, natTable: null, forwardingWasOff: false, hosts: [], template: null };
  await mkdir(dir, { recursive: true });
  await saveState(state);
  o.progress(`bridge ${state.bridge} on ${state.subnet}`);
  await makeBridge(state);
  state.natTable = `napc-${o.name}`;
  await saveState(state);
  await makeNat(state, async (wasOff) => {
    state.forwardingWasOff = wasOff;
    await saveState(state);
  });
  for (let i = 1; i <= count; i++) {
    const host = hostOf(o, i, net.hostAddress(i));
    state.hosts.push(host);
    await saveState(state);
    await mkdir(host.dir, { recursive: true });
    await makeHostNetwork(state, host);
    o.progress(`host ${i}: namespace ${host.netns}, address ${host.address}`);
  }
  const imageId = (await run('docker', ['-H', `unix://${o.machineDockerSocket}`, 'image', 'inspect', '--format', '{{.Id}}', o.stackImage])).trim();
  let source = await cachedTemplate(imageId);
  if (source) o.progress(`${o.stackImage} from the template kept in ${source.dir}`);
  else {
    o.progress(`loading ${o.stackImage} once, for every host's dockerd`);
    const template = { dir: join(dir, 'template'), netns: `napc-${o.name}-t`, socket: join(dir, 'template', 'docker.sock'), cgroupParent: `napc-${o.name}-t` };
    state.template = template;
    await saveState(state);
    await mkdir(template.dir, { recursive: true });
    await run('ip', ['netns', 'add', template.netns]);
    const templateEngine: Engine = { ...template, label: 'the template' };
    await makeTemplate(templateEngine, o.stackImage, o.machineDockerSocket);
    source = (await keepTemplate(templateEngine, imageId)) ?? templateEngine;
  }
  const templateEngine = source;
  await Promise.all(
    state.hosts.map(async (host) => {
      await dataRootFromTemplate(templateEngine, engineOf(host));
      host.dockerdPid = await startEngine(engineOf(host));
      await saveState(state);
      o.progress(`host ${host.index}: dockerd up, with ${o.stackImage}`);
    }),
  );
  await removeTemplate(state);
  return state;
}

/**
 * Loading the stack image into a template engine takes 20 s (a minute on a busy machine); its data
 * root is kept here, by image id, and hosts are hard-linked from it while the image is unchanged.
 * Only the newest image's is kept.
 */
const TEMPLATE_CACHE = '/var/cache/nap/local-cluster-templates';

async function cachedTemplate(imageId: string): Promise<Engine | null> {
  const dir = join(TEMPLATE_CACHE, imageId.replace(/^sha256:/, '').slice(0, 32));
  const complete = await readFile(join(dir, 'image-id'), 'utf8').catch(() => '');
  return complete.trim() === imageId ? { dir, socket: '', netns: null, cgroupParent: '', label: 'the kept template' } : null;
}

/** Moves the template's data root into the cache (same filesystem only); null when it cannot be kept. */
async function keepTemplate(template: Engine, imageId: string): Promise<Engine | null> {
  const dir = join(TEMPLATE_CACHE, imageId.replace(/^sha256:/, '').slice(0, 32));
  try {
    for (const old of await readdir(TEMPLATE_CACHE).catch(() => [])) await rm(join(TEMPLATE_CACHE, old), { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await rename(join(template.dir, 'docker'), join(dir, 'docker'));
    await writeFile(join(dir, 'image-id'), `${imageId}\n`);
    return cachedTemplate(imageId);
  } catch {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    return null;
  }
}

async function removeTemplate(state: ClusterState): Promise<void> {
  if (!state.template) return;
  await killHost({ ...state.template, label: 'the template' });
  await run('ip', ['netns', 'del', state.template.netns]).catch(() => {});
  await rm(state.template.dir, { recursive: true, force: true });
  state.template = null;
  await saveState(state);
}

/**
 * nap on the hosts: `nap up --advertise` on the first (engines, controller, router, DEA); `nap join`
 * on the second as a controller, router and DEA (a second controller, to take over the health
 * manager), and on every other as a router and DEA.
 */
export async function startNap(state: ClusterState, o: { installationId: string; progress(line: string): void }): Promise<{ api: string; apis: string[]; ca: string; token: string; routers: string[] }> {
  // The hosts share this machine's cores: each brings up its share of instances at once, not a whole machine's.
  const maxStarting = String(Math.max(2, Math.ceil((availableParallelism() * 8) / state.hosts.length)));
  for (const host of state.hosts) {
    await updateNodeSettings(host.napHome, { NAP_DOCKER_SOCKET: host.dockerSocket, NAP_INSTALLATION_ID: o.installationId, NAP_ROUTER_WORKERS: '1', NAP_DEA_MAX_STARTING: maxStarting });
  }
  const [first, ...others] = state.hosts;
  o.progress(`host 1: nap up --advertise ${first.address}`);
  const up = await napOnHost<{ api: string }>(first, ['up', '--no-setup', '--advertise', first.address]);
  const made = await napOnHost<{ token: string }>(first, ['nodes', 'token', 'create', '--roles', 'engines,controller,router,dea', '--ttl', '1']);
  // The hosts trust the API as a new machine would: through the CA's pin that nap up prints.
  const ca = await readFile(tlsFilesOf(first.napHome).ca, 'utf8');
  const rolesOf = (host: LocalHost) => (host.index === 2 ? 'engines,controller,router,dea' : host.index === 3 ? 'engines,router,dea' : 'router,dea');
  const joinHost = async (host: LocalHost) => {
    o.progress(`host ${host.index}: nap join ${up.api} --roles ${rolesOf(host)}`);
    await napOnHost(host, ['join', up.api, '--no-setup', '--ca-pin', caPinOf(ca), '--advertise', host.address, '--roles', rolesOf(host)], { NAP_JOIN_TOKEN: made.token });
    o.progress(`host ${host.index}: joined`);
  };
  // Engines nodes one at a time: etcd takes one new member at once, and only once the last is healthy.
  for (const host of others.filter((h) => rolesOf(h).startsWith('engines'))) {
    await joinHost(host);
    await engineSettled(first, host, up.api, ca, o.progress);
  }
  await Promise.all(others.filter((h) => !rolesOf(h).startsWith('engines')).map(joinHost));
  state.api = up.api;
  await saveState(state);
  const apis = state.hosts.filter((h) => h.index <= 2).map((h) => `https://${h.address}:9022`);
  return { api: up.api, apis, ca, token: await adminToken(first), routers: state.hosts.map((h) => `http://${h.address}:8080`) };
}

/** Until the host's etcd member votes and the platform's health (etcd, NATS, JetStream) is whole again. */
async function engineSettled(first: LocalHost, host: LocalHost, api: string, ca: string, progress: (line: string) => void): Promise<void> {
  const fetch = trustingCa(ca);
  const deadline = Date.now() + 120_000;
  let last = '';
  while (Date.now() < deadline) {
    const nodes = await napOnHost<{ address: string; etcd_member: string | null }[]>(first, ['nodes']).catch(() => []);
    const member = nodes.find((n) => n.address === host.address)?.etcd_member ?? 'unknown';
    const health = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(3000) })
      .then(async (r) => (r.ok ? 'ok' : JSON.stringify(((await r.json()) as { down?: unknown }).down)))
      .catch((e: Error) => e.message);
    if (member === 'voting' && health === 'ok') {
      progress(`host ${host.index}: its etcd member votes, and the engines are healthy`);
      return;
    }
    last = `etcd member ${member}; health ${health}`;
    await sleep(1000);
  }
  throw new Error(`host ${host.index}'s engines did not settle within 120 s (${last})`);
}

/** A host lost as a machine is lost: every process and container of it killed, and its link down. */
export async function loseHost(state: ClusterState, index: number): Promise<void> {
  const host = hostAt(state, index);
  await setHostLink(state, host, false);
  await killHost(engineOf(host));
}

/** `ip link set eth0 down` (or up) in the host: it runs on, cut off from the others. */
export async function cutHost(state: ClusterState, index: number, cut: boolean): Promise<void> {
  await setHostLink(state, hostAt(state, index), !cut);
}

function hostAt(state: ClusterState, index: number): LocalHost {
  const host = state.hosts.find((h) => h.index === index);
  if (!host) throw new Error(`no host ${index} in local cluster ${state.name}`);
  return host;
}

/**
 * Removes exactly what the state file records: engines (and their containers), namespaces, the
 * bridge, the table, and the folder's own entries; a folder with anything else left in it stays.
 */
export async function removeHosts(dir: string, progress: (line: string) => void): Promise<ClusterState | null> {
  dir = resolve(dir);
  const state = await readState(dir);
  if (!state) return null;
  await removeTemplate(state);
  await Promise.all(
    state.hosts.map(async (host) => {
      await killHost(engineOf(host));
      await removeHostNetwork(host);
      await rm(host.dir, { recursive: true, force: true });
      progress(`host ${host.index}: removed`);
    }),
  );
  await removeBridgeAndNat(state);
  await unmountUnder(dir);
  await rm(stateFile(dir), { force: true });
  await rmdir(dir).catch((err: NodeJS.ErrnoException) => progress(`${dir} kept: ${err.code === 'ENOTEMPTY' ? 'it holds files the cluster did not make' : err.message}`));
  progress(`bridge ${state.bridge} and table ${state.natTable ?? '-'} removed`);
  return state;
}
