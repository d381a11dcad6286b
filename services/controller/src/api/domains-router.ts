import { badRequest, conflict, NapError, notFound, RouteHost } from '@nap/common';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import { type Caller, requireAdmin } from '../auth/bearer.js';
import { domainOf, domainsOf, isIpLike } from '../routes/route-policy.js';
import type { DomainRecord, DomainsRepository } from '../store/domains-repository.js';
import type { RoutesRepository } from '../store/routes-repository.js';
import type { UsersRepository } from '../store/users-repository.js';

const UserName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'user names are 1-63 lowercase letters, digits, ., _ or -');

export const NewDomain = z
  .object({
    name: RouteHost,
    owners: z.array(UserName).max(100).optional(),
  })
  .strict();

export interface DomainsRouterDeps {
  domains: DomainsRepository;
  routes: RoutesRepository;
  users: UsersRepository;
  sharedDomain: string;
  /** The platform's own hosts (route-policy's platformHosts). */
  reserved: ReadonlySet<string>;
}

function domainName(req: Request): string {
  const parsed = RouteHost.safeParse(req.params.name ?? '');
  if (!parsed.success || parsed.data.startsWith('*.')) throw badRequest('invalid_domain', `${req.params.name} is not a domain name`);
  return parsed.data;
}

function present(d: DomainRecord, admin: boolean) {
  const view = { name: d.name, shared: false, created_at: d.created_at, created_by: d.created_by };
  // Who else was given a domain is the admins' business.
  return admin ? { ...view, owners: d.owners } : view;
}

/**
 * Domains (docs/contract.md §2.6): the shared NAP_DOMAIN, on which anyone takes a free host, and
 * private domains that only admins create and give to users.
 */
export function domainsRouter(deps: DomainsRouterDeps): Router {
  const { domains, routes, users, sharedDomain, reserved } = deps;
  const router = Router();
  const json = express.json({ limit: '16kb' });

  const checkOwners = async (owners: readonly string[]) => {
    const known = new Set((await users.list()).map((u) => u.name));
    const unknown = owners.filter((o) => !known.has(o));
    if (unknown.length > 0) throw badRequest('unknown_user', `no user ${unknown.join(', ')}: create them first (nap create-user NAME)`);
  };

  router.get('/v1/domains', async (req, res) => {
    const caller = req.caller!;
    const all = (await domains.list()).map((v) => v.record).filter((d) => !d.deleting);
    const visible = domainsOf(caller, all).sort((a, b) => a.name.localeCompare(b.name));
    res.json([{ name: sharedDomain, shared: true }, ...visible.map((d) => present(d, caller.role === 'admin'))]);
  });

  router.post('/v1/domains', json, async (req, res) => {
    const admin = requireAdmin(req, 'create domains');
    const body = NewDomain.parse(req.body ?? {});
    const name = body.name;
    if (name.startsWith('*.')) throw badRequest('invalid_domain', `a domain has no wildcard: create ${name.slice(2)}, and its owners may claim ${name}`);
    if (isIpLike(name)) throw badRequest('invalid_domain', `${name} is an IP address, not a domain`);
    if (!name.includes('.')) throw badRequest('invalid_domain', `${name} is a top-level domain: a private domain has at least two labels, such as team.example.com`);
    if (name === sharedDomain) throw conflict('domain_exists', `${name} is the shared domain: everyone may claim hosts on it already`);
    if (reserved.has(name)) throw new NapError(403, 'domain_reserved', `${name} is one of the platform's own hosts and cannot be a domain`);
    const owners = [...new Set(body.owners ?? [])];
    await checkOwners(owners);
    const record: DomainRecord = { name, owners, created_at: new Date().toISOString(), created_by: admin.name };
    if (!(await domains.create(record))) throw conflict('domain_exists', `the domain ${name} exists already: give it to more users with nap share-domain ${name} USER`);
    res.status(201).json(present(record, true));
  });

  // Giving and taking back: routes already claimed stay with their apps; only new claims change.
  const changeOwner = (add: boolean) => async (req: Request, res: express.Response) => {
    requireAdmin(req, 'give domains to users');
    const name = domainName(req);
    const user = UserName.safeParse(req.params.user);
    if (!user.success) throw badRequest('invalid_user', `${req.params.user} is not a user name`);
    if (add) await checkOwners([user.data]);
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await domains.get(name);
      if (!current || current.record.deleting) throw notFound('domain_not_found', `no domain ${name}: see nap domains`);
      const owners = add ? [...new Set([...current.record.owners, user.data])] : current.record.owners.filter((o) => o !== user.data);
      const record = { ...current.record, owners };
      if (await domains.replace(record, current.modRevision)) {
        res.json(present(record, true));
        return;
      }
    }
    throw conflict('domain_changed', `the domain ${name} kept changing: try again`);
  };
  router.put('/v1/domains/:name/owners/:user', changeOwner(true));
  router.delete('/v1/domains/:name/owners/:user', changeOwner(false));

  // Marked first, then checked for routes, then deleted: a claim racing the delete fails on the
  // domain's changed revision (RouteClaims), so no route outlives its domain.
  router.delete('/v1/domains/:name', async (req, res) => {
    requireAdmin(req, 'delete domains');
    const name = domainName(req);
    if (name === sharedDomain) throw conflict('domain_shared', `${name} is the shared domain (NAP_DOMAIN) and cannot be deleted`);
    const current = await domains.get(name);
    if (!current) throw notFound('domain_not_found', `no domain ${name}: see nap domains`);
    const marked = await domains.replace({ ...current.record, deleting: true }, current.modRevision);
    if (!marked) throw conflict('domain_changed', `the domain ${name} changed meanwhile: try again`);
    const all = (await domains.list()).map((v) => v.record);
    const inUse = Object.keys(await routes.all()).filter((host) => domainOf(host, all)?.name === name);
    if (inUse.length > 0) {
      await domains.replace({ ...current.record, deleting: false }, marked);
      const shown = inUse.slice(0, 5).join(', ') + (inUse.length > 5 ? ` and ${inUse.length - 5} more` : '');
      throw conflict('domain_in_use', `routes on ${name} are still claimed (${shown}): unmap them first (nap unmap-route APP HOST)`);
    }
    if (!(await domains.delete(name, marked))) throw conflict('domain_changed', `the domain ${name} changed meanwhile: try again`);
    res.json({ name, deleted: true });
  });

  return router;
}
