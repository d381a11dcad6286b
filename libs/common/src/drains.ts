import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Where a developer's drain may send: public addresses only. The DEA connects from the host, which
 * reaches loopback (etcd, NATS, the API), the containers' network and the cloud's metadata address:
 * a drain there would carry a tenant's own lines into the platform. Admin drains may go anywhere.
 */
const notPublic = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  notPublic.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 127],
  ['::ffff:0:0', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  notPublic.addSubnet(net, bits, 'ipv6');
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return !notPublic.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** The addresses to connect to for `host`: all of them public, or an error saying why not. */
export async function publicAddressesOf(host: string): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  const addresses = isIP(bare) ? [bare] : (await lookup(bare, { all: true })).map((a) => a.address);
  const refused = addresses.filter((a) => !isPublicAddress(a));
  if (addresses.length === 0) throw new Error(`${host} has no address`);
  if (refused.length > 0) throw new Error(`${host} is ${refused.join(', ')}: a drain may only send to public addresses`);
  return addresses;
}

export type DrainKind = 'syslog' | 'syslog-tls' | 'https';

export interface DrainTarget {
  kind: DrainKind;
  host: string;
  port: number;
  /** The URL as given, for https drains the one POSTed to. */
  url: string;
}

/** At most this many drains per app, and this long a URL. */
export const MAX_DRAINS_PER_APP = 10;
const MAX_DRAIN_URL = 2048;

/**
 * A drain URL (issue 16): `syslog://HOST:PORT` (RFC 5424 over TCP, octet-counted), `syslog-tls://HOST:PORT`
 * or `https://HOST[:PORT]/PATH` (POSTed in batches). Anything else is an error that says what to write.
 */
export function parseDrainUrl(raw: string): DrainTarget {
  if (raw.length > MAX_DRAIN_URL) throw new Error(`a drain URL is at most ${MAX_DRAIN_URL} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`"${raw.slice(0, 80)}" is not a URL: write syslog://HOST:PORT, syslog-tls://HOST:PORT or https://HOST/PATH`);
  }
  const kind = url.protocol.slice(0, -1);
  if (kind !== 'syslog' && kind !== 'syslog-tls' && kind !== 'https') throw new Error(`drains are syslog://, syslog-tls:// or https://, not ${url.protocol}//`);
  if (url.username || url.password) throw new Error('a drain URL carries no user or password (put a token in an https drain path instead)');
  if (!url.hostname) throw new Error('a drain URL needs a host');
  const port = url.port ? Number(url.port) : kind === 'https' ? 443 : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`a ${kind} drain needs a port: ${kind}://HOST:PORT`);
  return { kind, host: url.hostname, port, url: url.toString() };
}
