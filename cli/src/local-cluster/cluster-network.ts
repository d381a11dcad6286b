import { readFile, writeFile } from 'node:fs/promises';
import { cidrsOverlap, formatIpv4, parseCidr } from '@nap/common/without-engines';
import type { ClusterState, LocalHost } from './cluster-state.js';
import { run } from './commands.js';

/**
 * The hosts' network: a bridge on the machine with one /24, each host a network namespace joined
 * to it by a veth pair, and NAT out through the machine (staging reaches the package registries
 * as it does on one node). Everything carries the cluster's name; removal takes only that.
 */

/** The first 10.251.K.0/24 that no route of the machine (nor another local cluster's bridge) overlaps. */
export async function freeSubnet(): Promise<{ subnet: string; gateway: string; hostAddress: (i: number) => string }> {
  const routes = JSON.parse(await run('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as { dst: string }[];
  const taken = routes.map((r) => parseCidr(r.dst === 'default' ? '0.0.0.0/32' : r.dst.includes('/') ? r.dst : `${r.dst}/32`)).filter((c) => c !== null);
  for (let k = 0; k < 256; k++) {
    const subnet = `10.251.${k}.0/24`;
    const cidr = parseCidr(subnet)!;
    if (taken.some((t) => t.prefix > 0 && cidrsOverlap(t, cidr))) continue;
    return { subnet, gateway: `10.251.${k}.1`, hostAddress: (i) => formatIpv4(cidr.base + 10 + i) };
  }
  throw new Error('no free /24 in 10.251.0.0/16 for the cluster\'s bridge: remove another local cluster (deploy/local-cluster down)');
}

export async function makeBridge(state: ClusterState): Promise<void> {
  await run('ip', ['link', 'add', state.bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${state.gateway}/24`, 'dev', state.bridge]);
  await run('ip', ['link', 'set', state.bridge, 'up']);
}

const FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** NAT out for the hosts' addresses, in an nftables table of the cluster's own; forwarding on, recorded first when this turns it on. */
export async function makeNat(state: ClusterState, record: (forwardingWasOff: boolean) => Promise<void>): Promise<void> {
  const forwardingWasOff = (await readFile(FORWARD, 'utf8')).trim() === '0';
  await record(forwardingWasOff);
  if (forwardingWasOff) await writeFile(FORWARD, '1');
  const t = `ip ${state.natTable}`;
  await run('nft', ['-f', '-'], {
    input: [
      `table ${t} {`,
      `  chain postrouting { type nat hook postrouting priority srcnat; policy accept;`,
      `    ip saddr ${state.subnet} oifname != "${state.bridge}" masquerade comment "local cluster hosts out"`,
      `  }`,
      `  chain forward { type filter hook forward priority filter; policy accept;`,
      `    iifname "${state.bridge}" accept`,
      `    oifname "${state.bridge}" ct state established,related accept`,
      `  }`,
      `}`,
      '',
    ].join('\n'),
  });
}

export async function makeHostNetwork(state: ClusterState, host: LocalHost): Promise<void> {
  const inNs = (...args: string[]) => run('ip', ['-n', host.netns, ...args]);
  await run('ip', ['netns', 'add', host.netns]);
  await run('ip', ['link', 'add', host.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.netns]);
  await run('ip', ['link', 'set', host.veth, 'master', state.bridge, 'up']);
  await inNs('addr', 'add', `${host.address}/24`, 'dev', 'eth0');
  await inNs('link', 'set', 'lo', 'up');
  await inNs('link', 'set', 'eth0', 'up');
  await inNs('route', 'add', 'default', 'via', state.gateway);
}

/** `ip link set eth0 down|up` inside a host: its link to the others cut or restored. */
export async function setHostLink(state: ClusterState, host: LocalHost, up: boolean): Promise<void> {
  await run('ip', ['-n', host.netns, 'link', 'set', 'eth0', up ? 'up' : 'down']);
  // A link that went down took its routes with it.
  if (up) await run('ip', ['-n', host.netns, 'route', 'replace', 'default', 'via', state.gateway]);
}

export async function removeHostNetwork(host: LocalHost): Promise<void> {
  // The veth pair goes with the namespace.
  await run('ip', ['netns', 'del', host.netns]).catch(() => {});
  await run('ip', ['link', 'del', host.veth]).catch(() => {});
}

export async function removeBridgeAndNat(state: ClusterState): Promise<void> {
  await run('ip', ['link', 'del', state.bridge]).catch(() => {});
  if (state.natTable) await run('nft', ['delete', 'table', 'ip', state.natTable]).catch(() => {});
  if (state.forwardingWasOff) {
    // Another local cluster may still need forwarding; only the last one switches it off again.
    const others = (await run('ip', ['-j', 'link', 'show', 'type', 'bridge']).catch(() => '[]')) as string;
    const stillUsed = (JSON.parse(others) as { ifname: string }[]).some((l) => l.ifname.startsWith('nc-'));
    if (!stillUsed) await writeFile(FORWARD, '0').catch(() => {});
  }
}
