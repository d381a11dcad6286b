import { execFile } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The cluster's certificates, made with the `openssl` command (Debian's, as deploy/setup installs
 * it): `nap up --advertise` makes the CA and its node's certificate; a joining node makes its key
 * and a request, and the controller signs it for the node's address only. One certificate per
 * node serves what the node serves between hosts (NATS, etcd, the controller's API, the directory
 * server) and is its client certificate towards the other nodes' NATS routes and etcd peers.
 * Its subject says whether the node is an engines node: only such a certificate is taken as a
 * NATS server or an etcd peer, so a DEA host cannot pose as either.
 */

const run = promisify(execFile);
const CA_DAYS = 3650;
/** Browsers' and Go's ceiling for a server certificate; a node re-joins to get a new one. */
const NODE_DAYS = 825;
const MAX_CSR_BYTES = 8192;
/** The subject of an engines node's certificate: etcd's peers and NATS's clients take no other. */
export const ENGINES_CN = 'nap-engines';
/** The subject of any other node's certificate: its API or directory server, at its address. */
export const NODE_CN = 'nap-node';
export type CertKind = 'engines' | 'node';
const cnOf = (kind: CertKind) => (kind === 'engines' ? ENGINES_CN : NODE_CN);

/**
 * The CA's pin, as `sha256:<hex>` of its DER (kubeadm's discovery hash): the printed join command
 * carries it, so a joining host trusts the CA it fetches only if it is this one.
 */
export function caPinOf(caPem: string): string {
  return `sha256:${createHash('sha256').update(new X509Certificate(caPem).raw).digest('hex')}`;
}

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export const tlsDirOf = (home: string) => join(home, 'tls');
export const tlsFilesOf = (home: string): TlsFiles => ({ ca: join(tlsDirOf(home), 'ca.crt'), cert: join(tlsDirOf(home), 'node.crt'), key: join(tlsDirOf(home), 'node.key') });
const caKeyOf = (home: string) => join(tlsDirOf(home), 'ca.key');

const exists = (file: string) => access(file).then(() => true, () => false);

async function openssl(args: string[], cwd?: string): Promise<string> {
  try {
    return (await run('openssl', args, { cwd, maxBuffer: 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('openssl is not installed: run deploy/setup (it installs it)');
    throw new Error(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' ')}`);
  }
}

async function keepPrivate(file: string): Promise<void> {
  await chmod(file, 0o600);
}

/** The first node's CA (kept once made: every node's certificate hangs off it) and its own certificate. */
export async function makeFirstNodeTls(home: string, address: string): Promise<TlsFiles> {
  const dir = tlsDirOf(home);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = tlsFilesOf(home);
  if (!(await exists(files.ca)) || !(await exists(caKeyOf(home)))) {
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKeyOf(home), '-out', files.ca, '-days', String(CA_DAYS), '-subj', '/CN=nap cluster CA']);
    await keepPrivate(caKeyOf(home));
  }
  if (!(await certFor(files.cert, address, 'engines'))) {
    const csr = await makeNodeKey(home);
    const cert = await signNodeRequest({ caCert: await readFile(files.ca, 'utf8'), caKey: await readFile(caKeyOf(home), 'utf8') }, csr, address, 'engines');
    await writeFile(files.cert, cert);
  }
  return files;
}

/** The CA's certificate and key as the first node keeps them, for the cluster secrets (controllers sign joins with them). */
export async function readCa(home: string): Promise<{ caCert: string; caKey: string } | null> {
  try {
    return { caCert: await readFile(tlsFilesOf(home).ca, 'utf8'), caKey: await readFile(caKeyOf(home), 'utf8') };
  } catch {
    return null;
  }
}

/** Whether `file` is a certificate of `kind` for `address` (a node whose address changed needs a new one). */
async function certFor(file: string, address: string, kind: CertKind): Promise<boolean> {
  try {
    const cert = new X509Certificate(await readFile(file));
    return cert.subject === `CN=${cnOf(kind)}` && Boolean(cert.checkIP(address));
  } catch {
    return false;
  }
}

/** A new private key for this node (0600) and the request to sign, in PEM. */
export async function makeNodeKey(home: string): Promise<string> {
  const dir = tlsDirOf(home);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { key } = tlsFilesOf(home);
  const csr = await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/CN=nap node']);
  await keepPrivate(key);
  return csr;
}

/** Keeps what a join handed this node: the CA's certificate and its own. */
export async function saveJoinedTls(home: string, given: { ca: string; cert: string }): Promise<TlsFiles> {
  const files = tlsFilesOf(home);
  await writeFile(files.ca, given.ca);
  await writeFile(files.cert, given.cert);
  return files;
}

/**
 * Signs a node's request for `address`, whatever the request asks: the subject (engines or not)
 * and the names are the controller's, and it is no CA. The join that asks must hold an address no
 * node has (nodes-router.ts), and an engines token for an engines certificate. The request must
 * carry a valid self-signature.
 */
export async function signNodeRequest(ca: { caCert: string; caKey: string }, csrPem: string, address: string, kind: CertKind): Promise<string> {
  if (csrPem.length > MAX_CSR_BYTES || !/^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----\n?$/.test(csrPem)) {
    throw new Error('expected one PEM certificate request (nap join makes it)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'nap-sign-'));
  try {
    await writeFile(join(dir, 'ca.crt'), ca.caCert);
    await writeFile(join(dir, 'ca.key'), ca.caKey, { mode: 0o600 });
    await writeFile(join(dir, 'node.csr'), csrPem);
    await openssl(['req', '-in', 'node.csr', '-noout', '-verify'], dir);
    await writeFile(join(dir, 'ext'), `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
    const serial = `0x${randomBytes(16).toString('hex')}`;
    const subject = `/CN=${cnOf(kind)}`;
    await openssl(['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial, '-days', String(NODE_DAYS), '-extfile', 'ext', '-subj', subject, '-out', 'node.crt'], dir);
    return await readFile(join(dir, 'node.crt'), 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** How long the platform's self-signed default certificate lasts (the CA/Browser limit for a leaf). */
const DEFAULT_CERT_DAYS = 397;

/**
 * The platform's default certificate for the shared domain (`domain` and `*.domain`), self-signed,
 * with a P-256 key: what a client gets for a name no certificate serves. Browsers warn about it;
 * an operator gives a real one with NAP_TLS_DEFAULT_CERT and NAP_TLS_DEFAULT_KEY.
 */
export async function makeSelfSignedCertificate(domain: string): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'nap-default-cert-'));
  try {
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', String(DEFAULT_CERT_DAYS), '-subj', `/CN=*.${domain}`, '-addext', `subjectAltName=DNS:${domain},DNS:*.${domain}`], dir);
    return { cert: await readFile(join(dir, 'cert.pem'), 'utf8'), key: await readFile(join(dir, 'key.pem'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

