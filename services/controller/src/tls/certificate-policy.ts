import { type CertificateRecord, NapError } from '@nap/common';
import type { Caller } from '../auth/bearer.js';
import { checkClaim, type RouteRules } from '../routes/route-policy.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { DomainsRepository } from '../store/domains-repository.js';
import type { RoutesRepository } from '../store/routes-repository.js';
import type { UsersRepository } from '../store/users-repository.js';

export interface CertificatePolicyDeps {
  domains: DomainsRepository;
  routes: RoutesRepository;
  apps: AppsRepository;
  users: UsersRepository;
  sharedDomain: string;
  reserved: ReadonlySet<string>;
}

const certForbidden = (message: string) => new NapError(403, 'cert_forbidden', message);

/**
 * Who may have the routers serve a name with their certificate (docs/contract.md §2.13): what they
 * may route to. On a private domain its owners (a wildcard there must not reach into another
 * owner's subdomain, as for routes); on the shared domain only the host of a route one of their
 * apps holds; admins any name. It is asked again later: a certificate whose owner may no longer
 * serve its name (the route went to another app, the domain to another owner) is no one's.
 */
export class CertificatePolicy {
  constructor(private readonly deps: CertificatePolicyDeps) {}

  /** Throws 403 `cert_forbidden` (or the route rules' 400) when `caller` may not serve `domain`. */
  async check(caller: Caller, domain: string): Promise<void> {
    const { domains, routes, apps } = this.deps;
    const rules: RouteRules = { sharedDomain: this.deps.sharedDomain, reserved: this.deps.reserved, domains: (await domains.list()).map((d) => d.record).filter((d) => !d.deleting) };
    let onPrivate;
    try {
      onPrivate = checkClaim(caller, domain, rules);
    } catch (err) {
      if (err instanceof NapError && err.status === 403) throw certForbidden(err.message.replace(/cannot be claimed/, 'cannot have your certificate'));
      throw err;
    }
    if (caller.role === 'admin' || onPrivate) return;
    const holder = await routes.owner(domain);
    const app = holder ? (await apps.list((a) => a.id === holder))[0] : undefined;
    if (!app || (app.owner ?? 'admin') !== caller.name) {
      throw certForbidden(`${domain} is on the shared domain and no app of yours holds it: map it to your app first (nap map-route APP ${domain}), or use a domain of your own`);
    }
  }

  /** Whether the certificate's owner may still serve its name (an admin's always may). */
  async ownerMayServe(c: CertificateRecord): Promise<boolean> {
    const role = c.owner === 'admin' ? 'admin' : (await this.deps.users.list()).find((u) => u.name === c.owner)?.role;
    if (!role) return false;
    try {
      await this.check({ name: c.owner, role }, c.domain);
      return true;
    } catch (err) {
      if (err instanceof NapError && err.status < 500) return false;
      throw err;
    }
  }
}
