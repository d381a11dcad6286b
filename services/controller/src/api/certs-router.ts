import { badRequest, CertificateError, type CertificateRecord, certificateRecord, checkCertificate, MAX_CERT_PEM, MAX_KEY_PEM, NapError, notFound, RouteHost } from '@nap/common';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import type { Caller } from '../auth/bearer.js';
import { checkClaim, type RouteRules } from '../routes/route-policy.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { CertsRepository } from '../store/certs-repository.js';
import type { DomainsRepository } from '../store/domains-repository.js';
import type { RoutesRepository } from '../store/routes-repository.js';

export const NewCertificate = z
  .object({
    domain: RouteHost,
    cert: z.string().min(1).max(MAX_CERT_PEM),
    key: z.string().min(1).max(MAX_KEY_PEM),
  })
  .strict();

export interface CertsRouterDeps {
  certs: CertsRepository;
  domains: DomainsRepository;
  routes: RoutesRepository;
  apps: AppsRepository;
  sharedDomain: string;
  reserved: ReadonlySet<string>;
  /** NAP_CERT_KEY: without it no key can be kept sealed, and the API takes no certificate. */
  certKey: string | undefined;
}

/** A certificate as the API shows it: never its key. */
export function presentCertificate(c: CertificateRecord, isDefault = false) {
  return {
    domain: c.domain,
    names: c.names,
    issuer: c.issuer,
    not_before: c.not_before,
    not_after: c.not_after,
    days_left: Math.floor((Date.parse(c.not_after) - Date.now()) / 86_400_000),
    source: c.source,
    owner: c.owner,
    added_at: c.added_at,
    default: isDefault,
    cert: c.cert,
  };
}

const certForbidden = (message: string) => new NapError(403, 'cert_forbidden', message);

function domainParam(req: Request): string {
  const parsed = RouteHost.safeParse(req.params.domain ?? '');
  if (!parsed.success) throw badRequest('invalid_domain', `${req.params.domain} is not a host or a wildcard such as *.example.com`);
  return parsed.data;
}

/**
 * Certificates (docs/contract.md §2.12): a user adds one for a name they may route to. On a private
 * domain that is its owners' (and a wildcard there must not reach into another owner's subdomain,
 * as for routes); on the shared domain only the host of a route one of their apps holds, since
 * any other name there is the platform's or another tenant's.
 */
export function certsRouter(deps: CertsRouterDeps): Router {
  const { certs, domains, routes, apps } = deps;
  const router = Router();
  const json = express.json({ limit: `${Math.ceil((MAX_CERT_PEM + MAX_KEY_PEM) / 1024) + 8}kb` });

  const mayServe = async (caller: Caller, domain: string) => {
    const rules: RouteRules = { sharedDomain: deps.sharedDomain, reserved: deps.reserved, domains: (await domains.list()).map((d) => d.record).filter((d) => !d.deleting) };
    let onPrivate;
    try {
      onPrivate = checkClaim(caller, domain, rules);
    } catch (err) {
      if (err instanceof NapError && err.status === 403) throw certForbidden(err.message.replace(/cannot be claimed/, 'cannot have your certificate'));
      throw err;
    }
    if (caller.role === 'admin' || onPrivate) return;
    // The shared domain: a host one of the caller's apps holds, never the shared wildcard.
    const holder = await routes.owner(domain);
    const app = holder ? (await apps.list((a) => a.id === holder))[0] : undefined;
    if (!app || (app.owner ?? 'admin') !== caller.name) {
      throw certForbidden(`${domain} is on the shared domain and no app of yours holds it: map it to your app first (nap map-route APP ${domain}), or use a domain of your own`);
    }
  };

  router.get('/v1/certs', async (req, res) => {
    const caller = req.caller!;
    const mine = (await certs.list()).filter((c) => caller.role === 'admin' || c.owner === caller.name).sort((a, b) => a.domain.localeCompare(b.domain));
    const fallback = caller.role === 'admin' ? await certs.getDefault() : null;
    res.json([...(fallback ? [presentCertificate(fallback, true)] : []), ...mine.map((c) => presentCertificate(c))]);
  });

  router.post('/v1/certs', json, async (req, res) => {
    const caller = req.caller!;
    // Bad input is a 400 whatever this controller can do.
    const body = NewCertificate.parse(req.body ?? {});
    await mayServe(caller, body.domain);
    const existing = await certs.get(body.domain);
    if (existing && existing.owner !== caller.name && caller.role !== 'admin') throw certForbidden(`${body.domain} has a certificate of another user's`);
    let checked;
    try {
      checked = checkCertificate(body.cert, body.key, body.domain);
    } catch (err) {
      if (err instanceof CertificateError) throw badRequest('invalid_certificate', err.message);
      throw err;
    }
    if (!deps.certKey) throw new NapError(503, 'certificates_unavailable', 'this controller has no NAP_CERT_KEY, so it cannot keep a key sealed: run nap up again (it makes one)');
    const record = certificateRecord(checked, body.key, deps.certKey, { domain: body.domain, source: 'upload', owner: caller.name });
    await certs.put(record);
    res.status(existing ? 200 : 201).json(presentCertificate(record));
  });

  router.delete('/v1/certs/:domain', async (req, res) => {
    const caller = req.caller!;
    const domain = domainParam(req);
    const existing = await certs.get(domain);
    // Another user's certificate is as good as absent to a developer: its existence is not theirs to know.
    if (!existing || (existing.owner !== caller.name && caller.role !== 'admin')) throw notFound('cert_not_found', `no certificate of yours for ${domain} (nap certs lists them)`);
    await certs.delete(domain);
    res.status(204).end();
  });

  return router;
}
