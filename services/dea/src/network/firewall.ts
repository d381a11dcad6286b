import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';

/** What nap's rules are made of; all of it comes from settings and the host, never from a tenant. */
export interface FirewallPlan {
  table: string;
  bridge: string;
  /** CIDR of nap's bridge network. */
  subnet: string;
  /** Name servers containers' DNS queries go to (Docker's embedded DNS forwards from the container). */
  nameservers: string[];
  /** The host's directly attached IPv4 networks (its LANs): other hosts' services live there. */
  hostNetworks: string[];
}

/** The port inside every container: what PORT says, and what the mapped host port leads to. */
export const APP_PORT = 8080;

/** Private, shared, loopback, multicast and reserved IPv4 ranges: no container reaches them. */
const PRIVATE_RANGES = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/4', '240.0.0.0/4'];

function q(s: string): string {
  return JSON.stringify(s);
}

/**
 * nap's rules as one nft script, applied in one transaction. The table and its chains are declared
 * (created only when absent), then each chain is flushed and filled again: applying it twice, or
 * from two DEAs of one installation at once, leaves one copy of each rule and never touches the
 * port map (the mapped instances) nor any table nap did not make.
 */
export function renderRuleset(p: FirewallPlan): string {
  // Table names cannot be quoted in nft; an installation id is [A-Za-z0-9_.-] after "nap-", which nft takes as it is.
  const t = `inet ${p.table}`;
  const br = q(p.bridge);
  const rule = (chain: string, text: string) => `add rule ${t} ${chain} ${text}`;
  const lines = [
    `table ${t} {`,
    `  map ports { type inet_service : ipv4_addr . inet_service; }`,
    `  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `  chain output { type nat hook output priority -100; policy accept; }`,
    `  chain postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `  chain input { type filter hook input priority filter; policy accept; }`,
    `  chain forward { type filter hook forward priority filter; policy accept; }`,
    `}`,
    ...['prerouting', 'output', 'postrouting', 'input', 'forward'].map((c) => `flush chain ${t} ${c}`),
    // In: a host port nap mapped leads to one instance's address and APP_PORT, from anywhere
    // (another host's router) and from this host itself (a router on 127.0.0.1: output hook).
    rule('prerouting', `fib daddr type local meta l4proto tcp dnat ip to tcp dport map @ports comment "host port -> instance"`),
    rule('output', `fib daddr type local meta l4proto tcp dnat ip to tcp dport map @ports comment "host port -> instance, from this host"`),
    // A connection to 127.0.0.1:port leaves through the bridge with a loopback source: it needs
    // route_localnet on the bridge and a source the container can answer (as Docker does).
    rule('postrouting', `oifname ${br} ip saddr 127.0.0.0/8 masquerade comment "loopback clients of mapped ports"`),
    rule('postrouting', `ip saddr ${p.subnet} oifname != ${br} masquerade comment "containers out"`),
    // The host itself (etcd, NATS, controller, directory, router status, anything on any of its
    // addresses) answers containers nothing, except the replies to connections it opened.
    rule('input', `iifname ${br} ct state established,related accept`),
    rule('input', `iifname ${br} drop comment "containers -> host"`),
    rule('forward', `ct state established,related accept`),
    rule('forward', `iifname ${br} oifname ${br} drop comment "container -> container"`),
    ...p.nameservers.map((ns) => rule('forward', `iifname ${br} ip daddr ${ns} meta l4proto { tcp, udp } th dport 53 accept comment "name server"`)),
    rule('forward', `iifname ${br} ip daddr 169.254.0.0/16 drop comment "link-local, the metadata address 169.254.169.254"`),
    rule('forward', `iifname ${br} ip daddr { ${PRIVATE_RANGES.join(', ')} } drop comment "private ranges"`),
    ...(p.hostNetworks.length ? [rule('forward', `iifname ${br} ip daddr { ${p.hostNetworks.join(', ')} } drop comment "the host's networks"`)] : []),
    rule('forward', `iifname ${br} meta nfproto ipv6 drop comment "no IPv6 out"`),
  ];
  return `${lines.join('\n')}\n`;
}

function nft(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('nft', args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'ENOENT' ? 'nft is not installed: run deploy/setup (it installs nftables)' : `nft: ${e.message}`)),
    );
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`nft ${args.join(' ')}: ${err.trim() || `exit ${code}`}`))));
    // nft reads stdin only for `-f -`; a write to one that exited without reading it is EPIPE,
    // which must not take the DEA down (the exit code says how the command went).
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}

export interface PortMapping {
  hostPort: number;
  address: string;
  port: number;
}

/** nap's nftables table of one installation: its rules, and the map of host ports to instances. */
export class Firewall {
  constructor(private readonly table: string) {}

  async apply(plan: FirewallPlan): Promise<void> {
    await nft(['-f', '-'], renderRuleset(plan));
  }

  async map(m: PortMapping): Promise<void> {
    // An element left for this port (a crash between map and unmap) is replaced, not kept.
    await this.unmap(m.hostPort);
    await nft(['add', 'element', 'inet', this.table, 'ports', `{ ${m.hostPort} : ${m.address} . ${m.port} }`]);
  }

  async unmap(hostPort: number): Promise<void> {
    await nft(['delete', 'element', 'inet', this.table, 'ports', `{ ${hostPort} }`]).catch(() => {});
  }

  async mappings(): Promise<PortMapping[]> {
    const text = await nft(['list', 'map', 'inet', this.table, 'ports']);
    return [...text.matchAll(/(\d+) : (\d+\.\d+\.\d+\.\d+) \. (\d+)/g)].map((m) => ({ hostPort: Number(m[1]), address: m[2], port: Number(m[3]) }));
  }

  async listing(): Promise<string> {
    return nft(['list', 'table', 'inet', this.table]);
  }
}

/** Writes a sysctl under /proc/sys; `modprobe` first when its file is missing (a module not loaded). */
export async function ensureSysctl(path: string, value: string, module?: string): Promise<void> {
  const full = `/proc/sys/${path}`;
  let current = await readFile(full, 'utf8').catch(() => null);
  if (current === null && module) {
    await new Promise((r) => execFile('modprobe', [module], () => r(null)));
    current = await readFile(full, 'utf8').catch(() => null);
  }
  if (current === null) throw new Error(`${full} does not exist${module ? ` (kernel module ${module})` : ''}`);
  if (current.trim() !== value) await writeFile(full, value);
}
