import { type Cidr, cidrContains, cidrsOverlap, containerNetworkNames, formatCidr, type Logger, parseCidr, parseIpv4 } from '@nap/common';
import type { DockerRuntime } from '../runtime/docker-runtime.js';
import { ensureSysctl, Firewall } from './firewall.js';
import { type HostRoute, hostNameservers, hostRoutes } from './host-facts.js';

export interface ContainerNetwork {
  /** The Docker network containers join. */
  name: string;
  firewall: Firewall;
}

/** Why a subnet cannot be nap's on this host: it overlaps a route (another network would become unreachable) or a name server. */
export function subnetConflict(subnet: Cidr, routes: HostRoute[], nameservers: string[], bridge: string): string | null {
  for (const r of routes) {
    if (r.cidr.prefix === 0 || r.iface === bridge) continue;
    if (cidrsOverlap(subnet, r.cidr)) return `it overlaps the route to ${formatCidr(r.cidr)} on ${r.iface}`;
  }
  for (const ns of nameservers) if (cidrContains(subnet, parseIpv4(ns)!)) return `it holds the name server ${ns}`;
  return null;
}

/**
 * Makes (idempotently, at every DEA start) the installation's container network: a Docker bridge
 * on NAP_CONTAINER_SUBNET and nap's nftables table around it. See docs/security.md, "Container network".
 */
export async function ensureContainerNetwork(runtime: DockerRuntime, installationId: string, subnetText: string, log: Logger): Promise<ContainerNetwork> {
  const names = containerNetworkNames(installationId);
  const subnet = parseCidr(subnetText);
  if (!subnet) throw new Error(`NAP_CONTAINER_SUBNET ${subnetText} is not an IPv4 network in CIDR form`);
  const routes = await hostRoutes();
  const nameservers = (await hostNameservers()).filter((ns) => !ns.startsWith('127.'));
  const conflict = subnetConflict(subnet, routes, nameservers, names.bridge);
  if (conflict) {
    throw new Error(`NAP_CONTAINER_SUBNET ${subnetText} cannot be nap's container network here: ${conflict} (see 'ip route'); choose a free private range, e.g. 10.213.0.0/20`);
  }
  // Bridged frames between containers pass the IP hooks (and so nap's container -> container drop)
  // only with br_netfilter; forwarding carries containers' traffic out and the router's in.
  await ensureSysctl('net/bridge/bridge-nf-call-iptables', '1', 'br_netfilter');
  await ensureSysctl('net/ipv4/ip_forward', '1');
  await runtime.ensureNetwork(names.network, names.bridge, subnetText);
  // Docker creates the bridge interface with the network; 127.0.0.1:port DNAT'ed to it needs this.
  await ensureSysctl(`net/ipv4/conf/${names.bridge}/route_localnet`, '1');
  const hostNetworks = routes.filter((r) => r.direct && r.cidr.prefix > 0 && r.iface !== names.bridge && !r.iface.startsWith('lo')).map((r) => formatCidr(r.cidr));
  const firewall = new Firewall(names.table);
  await firewall.apply({ table: names.table, bridge: names.bridge, subnet: subnetText, nameservers, hostNetworks: [...new Set(hostNetworks)] });
  log.info({ network: names.network, bridge: names.bridge, subnet: subnetText, table: `inet ${names.table}` }, 'container network ready');
  return { name: names.network, firewall };
}
