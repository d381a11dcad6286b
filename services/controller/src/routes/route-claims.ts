import { keys, NapError } from '@nap/common';
import type { Caller } from '../auth/bearer.js';
import type { DomainsRepository } from '../store/domains-repository.js';
import type { ClaimGuard, RoutesRepository } from '../store/routes-repository.js';
import { checkClaim } from './route-policy.js';

/**
 * Every claim of a route goes through here (PUT /v1/apps, similar, rollback): the route policy for
 * hosts the app does not hold yet, then one etcd transaction per host. A host the app already holds
 * is kept as it is, so a route made before the policy (an upgrade) keeps working but can never be
 * claimed anew.
 */
export class RouteClaims {
  constructor(
    private readonly routes: RoutesRepository,
    private readonly domains: DomainsRepository,
    private readonly sharedDomain: string,
    private readonly reserved: ReadonlySet<string>,
  ) {}

  /**
   * Claims every host or none. Throws 400/403 for a host `caller` may not claim, 409 when a domain
   * changed meanwhile; returns the first host another app holds (nothing is claimed then), or null.
   */
  async claimAll(caller: Caller | undefined, appId: string, hosts: readonly string[], held: readonly string[] = []): Promise<string | null> {
    const fresh = hosts.filter((h) => !held.includes(h));
    const guards = new Map<string, ClaimGuard>();
    if (fresh.length > 0) {
      const versions = await this.domains.list();
      const rules = { sharedDomain: this.sharedDomain, reserved: this.reserved, domains: versions.map((v) => v.record) };
      const who = caller ?? { name: '', role: 'developer' as const };
      for (const host of fresh) {
        const domain = checkClaim(who, host, rules);
        if (!domain) continue;
        if (domain.deleting) throw new NapError(409, 'domain_deleting', `the domain ${domain.name} is being deleted: choose a host on another domain`);
        guards.set(host, { key: keys.domain(domain.name), modRevision: versions.find((v) => v.record.name === domain.name)!.modRevision });
      }
    }
    const claimed: string[] = [];
    const undo = () => Promise.all(claimed.filter((h) => !held.includes(h)).map((h) => this.routes.release(h, appId)));
    for (const host of hosts) {
      const outcome = await this.routes.claim(host, appId, guards.get(host));
      if (outcome === 'claimed') {
        claimed.push(host);
        continue;
      }
      await undo();
      if (outcome === 'taken') return host;
      throw new NapError(409, 'domain_changed', `the domain of ${host} changed while the route was being claimed: try again`);
    }
    return null;
  }
}
