import { readFile } from 'node:fs/promises';
import { certificateCovers, certificateRecord, checkCertificate, type Logger, makeSelfSignedCertificate, type Settings } from '@nap/common';
import type { CertsRepository } from '../store/certs-repository.js';

/** A self-signed default is made again this long before it expires. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

/**
 * The platform's default certificate (docs/contract.md §2.12): the operator's own when
 * NAP_TLS_DEFAULT_CERT and NAP_TLS_DEFAULT_KEY name one, else a self-signed one for the shared
 * domain, made once (and again when the domain changed or it nears its end). The routers serve it
 * to every name no certificate of a user serves.
 */
export async function ensureDefaultCertificate(certs: CertsRepository, settings: Settings, log: Logger, now = new Date()): Promise<void> {
  const certKey = settings.certKey;
  if (!certKey) {
    log.warn('NAP_CERT_KEY is not set: certificates cannot be kept and the routers serve no HTTPS (nap up sets it)');
    return;
  }
  const current = await certs.getDefault();
  if (settings.tlsDefaultCert && settings.tlsDefaultKey) {
    const [certPem, keyPem] = await Promise.all([readFile(settings.tlsDefaultCert, 'utf8'), readFile(settings.tlsDefaultKey, 'utf8')]);
    const checked = checkCertificate(certPem, keyPem, null, now);
    if (current?.cert === checked.chain) return;
    await certs.putDefault(certificateRecord(checked, keyPem, certKey, { domain: settings.domain, source: 'upload', owner: 'admin', now }));
    log.info({ names: checked.names, not_after: checked.notAfter.toISOString() }, "the operator's default certificate is the routers' default now");
    return;
  }
  const fresh = (c: NonNullable<typeof current>) =>
    c.source !== 'default' || (certificateCovers(c.names, `*.${settings.domain}`) && Date.parse(c.not_after) - now.getTime() > RENEW_BEFORE_MS);
  if (current && fresh(current)) return;
  const made = await makeSelfSignedCertificate(settings.domain);
  const record = certificateRecord(checkCertificate(made.cert, made.key, `*.${settings.domain}`, now), made.key, certKey, { domain: settings.domain, source: 'default', owner: 'admin', now });
  if (current) await certs.putDefault(record);
  else if (!(await certs.createDefault(record))) return; // another controller made it first
  log.info({ domain: settings.domain, not_after: record.not_after }, 'made a self-signed default certificate for the shared domain');
}
