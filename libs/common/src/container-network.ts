import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request } from 'node:http';

/**
 * What nap adds to a machine for its containers' network, all named after the installation so
 * that `nap down` or a test run removes exactly its own: a Docker bridge network, the bridge
 * interface under it, and nap's own nftables table (one `inet` table: filter and NAT).
 */
export interface ContainerNetworkNames {
  /** The Docker network instances, staging and Dockerfile builds join. */
  network: string;
  /** The Linux bridge interface (at most 15 characters, the kernel's limit). */
  bridge: string;
  /** `nft` table name, in family `inet`. */
  table: string;
}

export function containerNetworkNames(installationId: string): ContainerNetworkNames {
  const short = /^[a-z0-9-]{1,11}$/.test(installationId) ? installationId : createHash('sha256').update(installationId).digest('hex').slice(0, 11);
  return { network: `nap-${installationId}`, bridge: `nap-${short}`, table: `nap-${installationId}` };
}

export interface Cidr {
  /** The network address as a 32-bit unsigned number. */
  base: number;
  prefix: number;
}

export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** `10.213.0.0/20` → its network address and prefix; null for anything else (host bits set too). */
export function parseCidr(text: string): Cidr | null {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text);
  if (!m) return null;
  const base = parseIpv4(m[1]);
  const prefix = Number(m[2]);
  if (base === null || prefix > 32) return null;
  if ((base & ~maskOf(prefix)) >>> 0 !== 0) return null;
  return { base, prefix };
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

export function cidrContains(c: Cidr, address: number): boolean {
  return ((address & maskOf(c.prefix)) >>> 0) === c.base;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return ((a.base & maskOf(prefix)) >>> 0) === ((b.base & maskOf(prefix)) >>> 0);
}

/** The bridge's own address: the first of the subnet (as Docker gives it). */
export function gatewayOf(c: Cidr): string {
  return formatIpv4(c.base + 1);
}

/**
 * Removes the installation's network and then its nft table, if they are there (`nap down`, a
 * test platform's stop). While containers are still on the network Docker refuses, and the table
 * stays too: those containers keep nap's rules around them until they are gone.
 */
export async function removeContainerNetwork(installationId: string, dockerSocket: string): Promise<{ network: boolean; table: boolean }> {
  const names = containerNetworkNames(installationId);
  const status = await new Promise<number>((resolve) => {
    const req = request({ socketPath: dockerSocket, method: 'DELETE', path: `/networks/${encodeURIComponent(names.network)}` }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', () => resolve(0));
    req.end();
  });
  const network = status === 204 || status === 200;
  if (!network && status !== 404) return { network, table: false };
  const table = await new Promise<boolean>((resolve) => {
    execFile('nft', ['delete', 'table', 'inet', names.table], (err) => resolve(!err));
  });
  return { network, table };
}
