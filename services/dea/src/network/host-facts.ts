import { readFile } from 'node:fs/promises';
import { type Cidr, parseIpv4 } from '@nap/common';

/** One IPv4 route of the host's main table. */
export interface HostRoute {
  iface: string;
  cidr: Cidr;
  /** A route with no gateway reaches its addresses directly on the interface (the host's own LANs). */
  direct: boolean;
}

/** /proc/net/route: hex addresses in the kernel's (little-endian) byte order. */
export function parseProcRoutes(text: string): HostRoute[] {
  const routes: HostRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const le = (hex: string) => Buffer.from(hex.padStart(8, '0'), 'hex').readUInt32LE(0);
    const mask = le(f[7]);
    const prefix = mask.toString(2).replace(/0+$/, '').length;
    routes.push({ iface: f[0], cidr: { base: le(f[1]), prefix: mask === 0 ? 0 : prefix }, direct: le(f[2]) === 0 });
  }
  return routes;
}

export async function hostRoutes(): Promise<HostRoute[]> {
  return parseProcRoutes(await readFile('/proc/net/route', 'utf8').catch(() => 'header\n'));
}

/** The IPv4 name servers of /etc/resolv.conf: Docker's embedded DNS forwards containers' queries to them. */
export function parseNameservers(text: string): string[] {
  const servers: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && parseIpv4(m[1]) !== null) servers.push(m[1]);
  }
  return servers;
}

export async function hostNameservers(): Promise<string[]> {
  return parseNameservers(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
}
