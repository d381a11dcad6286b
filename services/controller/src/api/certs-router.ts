import { badRequest, CertificateError, type CertificateRecord, certificateRecord, checkCertificate, MAX_CERT_PEM, MAX_KEY_PEM, NapError, notFound, RouteHost } from '@nap/common';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import type { CertificatePolicy } from '../tls/certificate-policy.js';
import type { CertsRepository } from '../store/certs-repository.js';

export const NewCertificate = z
  .object({
    domain: RouteHost,
    cert: z.string().min(1).max(MAX_CERT_PEM),
    key: z.string().min(1).max(MAX_KEY_PEM),
  })
  .strict();

export interface CertsRouterDeps {
  certs: CertsRepository;
  policy: CertificatePolicy;
  /** NAP_CERT_KEY: without it no key can be kept sealed, and the API takes no certificate. */
  certKey: string | undefined;
}

/** A developer's certificates, at most (each weighs up to 40 KB in etcd, and every router reads them all). */
export const MAX_CERTS_PER_USER = 50;

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
  const { certs, policy } = deps;
  const router = Router();
  const json = express.json({ limit: `${Math.ceil((MAX_CERT_PEM + MAX_KEY_PEM) / 1024) + 8}kb` });

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
    await policy.check(caller, body.domain);
    const existing = await certs.get(body.domain);
    // Another user's certificate stays theirs while they may still serve the name; once not (the
    // route or the domain went to the caller), the caller replaces it.
    if (existing && existing.owner !== caller.name && caller.role !== 'admin' && existing.source !== 'acme' && (await policy.ownerMayServe(existing))) {
      throw certForbidden(`${body.domain} has a certificate of another user's`);
    }
    if (!existing && caller.role !== 'admin' && (await certs.list()).filter((c) => c.owner === caller.name).length >= MAX_CERTS_PER_USER) {
      throw new NapError(422, 'too_many_certificates', `you have ${MAX_CERTS_PER_USER} certificates: remove one first (nap certs remove DOMAIN)`);
    }
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
