import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One host of a local cluster: a network namespace with its own address and its own dockerd. */
export interface LocalHost {
  index: number;
  netns: string;
  /** The host side of its veth pair, on the cluster's bridge. */
  veth: string;
  address: string;
  dir: string;
  dockerSocket: string;
  dockerdPid: number | null;
  /** The cgroup every container of its engine goes under (dockerd's --cgroup-parent): how a lost host's containers are found and killed. */
  cgroupParent: string;
  /** NAP_HOME of the nap on this host. */
  napHome: string;
}

/**
 * Everything `up` made, written as it is made: `down` removes exactly this, even after an `up`
 * that failed half way.
 */
export interface ClusterState {
  name: string;
  dir: string;
  bridge: string;
  /** The bridge's own address (the hosts' gateway), and the /24 the hosts live in. */
  gateway: string;
  subnet: string;
  /** nap's nftables table on the machine: NAT out for the hosts. */
  natTable: string | null;
  /** ip_forward was 0 before this cluster set it. */
  forwardingWasOff: boolean;
  hosts: LocalHost[];
  /** The engine that loads the stack image once (in a namespace of its own, so down finds it if up died), while up runs. */
  template: { dir: string; netns: string; socket: string; cgroupParent: string } | null;
  api?: string;
}

export const stateFile = (dir: string) => join(dir, 'cluster.json');

export async function readState(dir: string): Promise<ClusterState | null> {
  const text = await readFile(stateFile(dir), 'utf8').catch(() => null);
  return text === null ? null : (JSON.parse(text) as ClusterState);
}

export async function saveState(state: ClusterState): Promise<void> {
  await mkdir(state.dir, { recursive: true });
  // Hosts are started side by side, each saving: every save has a file of its own to rename.
  const tmp = `${stateFile(state.dir)}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, stateFile(state.dir));
}
