import { isIP } from 'node:net';
import { badRequest, NapError, type Settings } from '@nap/common';
import type { Caller } from '../auth/bearer.js';
import type { DomainRecord } from '../store/domains-repository.js';

/**
 * Labels of the shared domain that belong to the platform (docs/contract.md §2.6, Domains and
 * routes): `api.<domain>` is where Cloud Foundry serves its API, and the others name nap's own parts.
 */
export const RESERVED_LABELS = ['api', 'directory', 'login', 'router', 'status'] as const;

/** What a claim is checked against: the shared domain, the hosts nobody may claim, the private domains. */
export interface RouteRules {
  sharedDomain: string;
  reserved: ReadonlySet<string>;
  domains: readonly DomainRecord[];
}

/** The platform's own hosts: the shared domain itself, its reserved labels, and the hosts of the platform's URLs when they are names. */
export function platformHosts(settings: Settings): Set<string> {
  const hosts = new Set<string>([settings.domain, ...RESERVED_LABELS.map((l) => `${l}.${settings.domain}`)]);
  for (const url of [settings.controllerUrl, settings.routerUrl, settings.directoryUrl]) {
    const host = hostOf(url);
    if (host && !isIpLike(host)) hosts.add(host);
  }
  return hosts;
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase().replace(/\.$/, '') || undefined;
  } catch {
    return undefined;
  }
}

/**
 * An IP address in any spelling a URL parser accepts: the WHATWG URL standard reads a host whose
 * last label is a number (`127.1`, `0x7f.1`, `2130706433`) as IPv4, so no route may end in one.
 */
export function isIpLike(host: string): boolean {
  if (isIP(host) !== 0 || host.startsWith('[')) return true;
  const last = host.split('.').at(-1) ?? '';
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
}

/** The private domain a host lies in (the longest one: a subdomain given to someone else is theirs), if any. */
export function domainOf(host: string, domains: readonly DomainRecord[]): DomainRecord | undefined {
  const name = host.startsWith('*.') ? host.slice(2) : host;
  let best: DomainRecord | undefined;
  for (const d of domains) {
    if ((name === d.name || name.endsWith(`.${d.name}`)) && (!best || d.name.length > best.name.length)) best = d;
  }
  return best;
}

const routeForbidden = (message: string) => new NapError(403, 'route_forbidden', message);

function under(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`);
}

/** Domains `caller` may claim hosts on, for messages and GET /v1/domains. */
export function domainsOf(caller: Caller, domains: readonly DomainRecord[]): DomainRecord[] {
  return caller.role === 'admin' ? [...domains] : domains.filter((d) => d.owners.includes(caller.name));
}

function whatYouMayUse(caller: Caller, rules: RouteRules): string {
  const mine = domainsOf(caller, rules.domains).map((d) => d.name);
  const shared = `NAME.${rules.sharedDomain} (one label, not taken)`;
  return mine.length > 0
    ? `you may claim ${shared}, or any host or wildcard on ${mine.join(', ')}`
    : `you may claim ${shared}; an admin can give you a domain of your own (nap create-domain DOMAIN --owner ${caller.name})`;
}

/**
 * Whether `caller` may newly claim `host` (already lowercased and syntactically a host, see
 * RouteHost). Returns the private domain the claim depends on, so the claim can be made only
 * while that domain is unchanged; throws a 400 or 403 that says what is allowed instead.
 *
 * Cloud Foundry's rules: a shared domain where anyone may take a free host, private domains that
 * exist only when an admin creates them, wildcards only on one's own domains.
 */
export function checkClaim(caller: Caller, host: string, rules: RouteRules): DomainRecord | undefined {
  const wildcard = host.startsWith('*.');
  const name = wildcard ? host.slice(2) : host;
  if (isIpLike(name)) {
    throw badRequest('invalid_route', `${host} is an IP address, which is never a route: use a host name such as myapp.${rules.sharedDomain}`);
  }
  if (name.length > 253 || name.split('.').some((l) => l.length === 0 || l.length > 63)) {
    throw badRequest('invalid_route', `${host} is not a DNS name: labels are 1-63 characters and the whole name at most 253`);
  }
  if (wildcard && !name.includes('.')) {
    throw badRequest('invalid_route', `${host} would cover a whole top-level domain: a wildcard needs a domain of at least two labels`);
  }
  if (rules.reserved.has(host)) {
    throw new NapError(403, 'route_reserved', `${host} is one of the platform's own hosts and cannot be claimed: choose another host (--route)`);
  }
  const domain = domainOf(host, rules.domains);
  // A private domain inside the shared one (team.nap.localhost) is that domain's, not the shared domain's.
  const onShared = under(name, rules.sharedDomain) && (!domain || domain.name.length <= rules.sharedDomain.length);
  if (caller.role === 'admin') return onShared ? undefined : domain;
  if (domain && !onShared) {
    if (domain.owners.includes(caller.name)) {
      // Hosts nobody claimed under a wildcard go to it: it must not reach into someone else's domain.
      const covered = wildcard && [rules.sharedDomain, ...rules.domains.filter((d) => !d.owners.includes(caller.name)).map((d) => d.name)].find((d) => d.endsWith(`.${name}`));
      if (covered) throw routeForbidden(`${host} would also catch the hosts of ${covered}, which is not yours: claim a wildcard below it, such as *.team.${name}`);
      return domain;
    }
    throw routeForbidden(`the domain ${domain.name} is not yours, so ${host} cannot be claimed: ${whatYouMayUse(caller, rules)}`);
  }
  if (onShared) {
    if (wildcard) {
      throw routeForbidden(`wildcards on the shared domain ${rules.sharedDomain} are for admins only: ${whatYouMayUse(caller, rules)}`);
    }
    if (name.slice(0, -(rules.sharedDomain.length + 1)).includes('.')) {
      throw routeForbidden(`on the shared domain a route is one label and the domain (NAME.${rules.sharedDomain}), not ${host}: ${whatYouMayUse(caller, rules)}`);
    }
    return undefined;
  }
  throw routeForbidden(`${host} is on no domain you may use: ${whatYouMayUse(caller, rules)}`);
}
