import { createCipheriv, createDecipheriv, createPrivateKey, hkdfSync, randomBytes, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { RouteHost } from './apps.js';

/** A certificate chain and a key are each at most this long: a leaf and two intermediates are 6 KB. */
export const MAX_CERT_PEM = 16 * 1024;
export const MAX_KEY_PEM = 8 * 1024;
/** Names a certificate may carry: more is refused rather than stored unreadable. */
const MAX_NAMES = 100;
const MAX_CHAIN = 10;
const SEALED = /^v1\.[A-Za-z0-9+/=]+$/;

/**
 * A certificate as etcd keeps it (`keys.cert(domain)`, `keys.defaultCert()`): the chain in PEM, the
 * key sealed with NAP_CERT_KEY (never in the clear, never in an answer of the API), and what the
 * chain says, read once when it was added.
 */
export const CertificateRecord = z.object({
  /** The name it serves: a host (`shop.example.com`) or a wildcard (`*.example.com`). */
  domain: RouteHost,
  cert: z.string().max(MAX_CERT_PEM),
  key_sealed: z.string().max(MAX_KEY_PEM * 2).regex(SEALED),
  not_before: z.string(),
  not_after: z.string(),
  /** The leaf's DNS names (subjectAltName). */
  names: z.array(z.string().max(253)).max(MAX_NAMES),
  issuer: z.string().max(1024),
  /** `upload` (nap certs add), `acme` (got by nap), `default` (the platform's own). */
  source: z.enum(['upload', 'acme', 'default']),
  /** The user who added it; a developer sees and removes only theirs. */
  owner: z.string().max(63),
  added_at: z.string(),
  /** The expiry warnings already recorded (30 and 7 days before), so each is given once. */
  warned: z.array(z.number().int()).max(4).default([]),
});
export type CertificateRecord = z.infer<typeof CertificateRecord>;

/** A route's options (`keys.routeOption(host)`): they hold only while `app_id` holds the route. */
export const RouteOptions = z.object({ app_id: z.string().max(64), https_only: z.boolean() });
export type RouteOptions = z.infer<typeof RouteOptions>;

function sealingKey(secretHex: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secretHex, 'hex'), 'nap', purpose, 32));
}

/** A private key sealed for etcd (AES-256-GCM under a key derived from NAP_CERT_KEY): `v1.` + base64(iv, tag, ciphertext). */
export function sealKey(secretHex: string, keyPem: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(secretHex, 'certificate keys at rest'), iv);
  const sealed = Buffer.concat([cipher.update(keyPem, 'utf8'), cipher.final()]);
  return `v1.${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64')}`;
}

/** The key back; throws when it was sealed with another NAP_CERT_KEY or changed since. */
export function openKey(secretHex: string, sealed: string): string {
  if (!SEALED.test(sealed)) throw new Error('not a sealed key');
  const raw = Buffer.from(sealed.slice(3), 'base64');
  if (raw.length < 29) throw new Error('a sealed key too short to hold anything');
  const decipher = createDecipheriv('aes-256-gcm', sealingKey(secretHex, 'certificate keys at rest'), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}

/**
 * TLS session ticket keys every router process of the platform shares (derived from NAP_CERT_KEY
 * and the day), so a client resumes its session on any of them; they change daily.
 */
export function ticketKeys(secretHex: string, day = Math.floor(Date.now() / 86_400_000)): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secretHex, 'hex'), 'nap', `tls session tickets ${day}`, 48));
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export class CertificateError extends Error {}

export interface CheckedCertificate {
  /** The chain as PEM blocks, leaf first, nothing else (no key, no comments). */
  chain: string;
  notBefore: Date;
  notAfter: Date;
  names: string[];
  issuer: string;
}

/** The leaf's DNS names, as its subjectAltName lists them. */
function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4).toLowerCase());
}

/** Whether `leaf` serves `domain`: a host by its names (wildcards as TLS matches them), a wildcard only by that very wildcard. */
export function certificateCovers(names: readonly string[], domain: string): boolean {
  if (domain.startsWith('*.')) return names.includes(domain);
  if (names.includes(domain)) return true;
  const dot = domain.indexOf('.');
  return dot > 0 && names.includes(`*${domain.slice(dot)}`);
}

/**
 * A chain and key as a user gives them, checked: PEM, leaf first, each certificate issued by the
 * next, the key the leaf's and not encrypted, the leaf naming `domain` (unless null) and not
 * expired. Every problem is a CertificateError that says what to fix.
 */
export function checkCertificate(certPem: string, keyPem: string, domain: string | null, now = new Date()): CheckedCertificate {
  if (certPem.length > MAX_CERT_PEM) throw new CertificateError(`the certificate file is over ${MAX_CERT_PEM / 1024} KB: give the leaf and its intermediates only`);
  if (keyPem.length > MAX_KEY_PEM) throw new CertificateError(`the key file is over ${MAX_KEY_PEM / 1024} KB`);
  // Counted before any pattern runs over the text: many openings without an end made that slow.
  const openings = certPem.split('-----BEGIN ').length - 1;
  if (openings > MAX_CHAIN) throw new CertificateError(`the file holds ${openings} PEM blocks: at most ${MAX_CHAIN} certificates`);
  const blocks = certPem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new CertificateError('no PEM certificate (-----BEGIN CERTIFICATE-----) in the certificate file');
  if (blocks.length > MAX_CHAIN) throw new CertificateError(`a chain of ${blocks.length} certificates: at most ${MAX_CHAIN}`);
  let chain: X509Certificate[];
  try {
    chain = blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    throw new CertificateError(`a certificate in the file cannot be read: ${(err as Error).message}`);
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1])) throw new CertificateError(`certificate ${i + 2} of the file did not issue certificate ${i + 1}: put the leaf first, then each issuer`);
  }
  if (/ENCRYPTED/.test(keyPem)) throw new CertificateError('the key is encrypted: give it without a passphrase (openssl pkey -in KEY -out PLAIN)');
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CertificateError(`the key cannot be read as a PEM private key: ${(err as Error).message}`);
  }
  const leaf = chain[0];
  if (!leaf.checkPrivateKey(key)) throw new CertificateError("the key is not the certificate's: give the key the certificate was made for");
  // Every handshake signs with it on the router: a 16,384-bit RSA key would make each one a CPU drain.
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'rsa' && (bits < 2048 || bits > 4096)) throw new CertificateError(`an RSA key of ${bits} bits: give one of 2048 to 4096 bits`);
  if (key.asymmetricKeyType === 'ec' && curve !== 'prime256v1' && curve !== 'secp384r1') throw new CertificateError(`an EC key on ${curve}: give one on P-256 or P-384`);
  if (!['rsa', 'ec', 'ed25519'].includes(String(key.asymmetricKeyType))) throw new CertificateError(`a ${key.asymmetricKeyType} key: give an RSA, EC (P-256, P-384) or Ed25519 one`);
  const names = dnsNames(leaf);
  if (names.length > MAX_NAMES) throw new CertificateError(`the certificate names ${names.length} hosts: at most ${MAX_NAMES}`);
  if (domain !== null && !certificateCovers(names, domain)) {
    throw new CertificateError(`the certificate does not name ${domain}: it names ${names.length ? names.join(', ') : 'no DNS name (subjectAltName)'}`);
  }
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) throw new CertificateError(`the certificate expired on ${notAfter.toISOString()}`);
  return { chain: blocks.join('\n') + '\n', notBefore: new Date(leaf.validFrom), notAfter, names, issuer: leaf.issuer.replace(/\n/g, ', ').slice(0, 1024) };
}

/** The record of a checked certificate, its key sealed with NAP_CERT_KEY. */
export function certificateRecord(
  checked: CheckedCertificate,
  keyPem: string,
  certKey: string,
  o: { domain: string; source: CertificateRecord['source']; owner: string; now?: Date },
): CertificateRecord {
  return {
    domain: o.domain,
    cert: checked.chain,
    key_sealed: sealKey(certKey, keyPem),
    not_before: checked.notBefore.toISOString(),
    not_after: checked.notAfter.toISOString(),
    names: checked.names,
    issuer: checked.issuer,
    source: o.source,
    owner: o.owner,
    added_at: (o.now ?? new Date()).toISOString(),
    warned: [],
  };
}

