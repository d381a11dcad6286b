import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CertificateError, certificateCovers, checkCertificate, makeSelfSignedCertificate, openKey, sealKey } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nap-certs-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '10', '-subj', '/CN=test CA');

/** A leaf for `names` signed by the test CA: its PEM and key. */
function leaf(label: string, names: string[], days = 10): { cert: string; key: string } {
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${label}.key`, '-out', `${label}.csr`, '-subj', `/CN=${names[0]}`);
  writeFileSync(join(dir, `${label}.ext`), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
  openssl('x509', '-req', '-in', `${label}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(Date.now()), '-days', String(days), '-extfile', `${label}.ext`, '-out', `${label}.crt`);
  return { cert: readFileSync(join(dir, `${label}.crt`), 'utf8'), key: readFileSync(join(dir, `${label}.key`), 'utf8') };
}

const ca = () => readFileSync(join(dir, 'ca.crt'), 'utf8');

test('a sealed key opens with its NAP_CERT_KEY only, and a changed one does not open', () => {
  const secret = randomBytes(32).toString('hex');
  const sealed = sealKey(secret, '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n');
  assert.ok(!sealed.includes('PRIVATE KEY'));
  assert.equal(openKey(secret, sealed), '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n');
  assert.throws(() => openKey(randomBytes(32).toString('hex'), sealed));
  const raw = Buffer.from(sealed.slice(3), 'base64');
  raw[raw.length - 1] ^= 1;
  assert.throws(() => openKey(secret, `v1.${raw.toString('base64')}`), 'a tampered key is refused');
});

test('a host is covered by its own name or its parent wildcard; a wildcard only by itself', () => {
  assert.ok(certificateCovers(['shop.example.com'], 'shop.example.com'));
  assert.ok(certificateCovers(['*.example.com'], 'shop.example.com'));
  assert.ok(!certificateCovers(['*.example.com'], 'a.shop.example.com'));
  assert.ok(!certificateCovers(['*.example.com'], 'example.com'));
  assert.ok(certificateCovers(['*.example.com'], '*.example.com'));
  assert.ok(!certificateCovers(['shop.example.com'], '*.example.com'));
});

test('a chain and key are checked: the leaf first, its key, its names, its dates', () => {
  const good = leaf('good', ['shop.example.com', '*.shop.example.com']);
  const checked = checkCertificate(`${good.cert}${ca()}`, good.key, 'shop.example.com');
  assert.deepEqual(checked.names, ['shop.example.com', '*.shop.example.com']);
  assert.ok(checked.notAfter.getTime() > Date.now());
  assert.equal((checked.chain.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
  assert.ok(!checked.chain.includes('PRIVATE KEY'), 'only certificates are kept of the file');
  assert.ok(checkCertificate(good.cert, good.key, '*.shop.example.com'));
  const other = leaf('other', ['other.example.com']);
  const cases: [string, string, string, RegExp][] = [
    [good.cert, good.key, 'other.example.com', /does not name other\.example\.com/],
    [good.cert, other.key, 'shop.example.com', /not the certificate's/],
    [`${ca()}${good.cert}`, good.key, 'shop.example.com', /put the leaf first/],
    ['not a certificate', good.key, 'shop.example.com', /no PEM certificate/],
    [good.cert, 'not a key', 'shop.example.com', /cannot be read as a PEM private key/],
    [good.cert, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----\n', 'shop.example.com', /encrypted/],
  ];
  for (const [cert, key, domain, message] of cases) {
    assert.throws(() => checkCertificate(cert, key, domain), (err: Error) => err instanceof CertificateError && message.test(err.message), String(message));
  }
  assert.throws(() => checkCertificate(good.cert, good.key, 'shop.example.com', new Date(Date.now() + 20 * 86_400_000)), /expired/);
});

test('the self-signed default names the shared domain and its wildcard', async () => {
  const made = await makeSelfSignedCertificate('nap.example');
  const checked = checkCertificate(made.cert, made.key, '*.nap.example');
  assert.deepEqual(checked.names, ['nap.example', '*.nap.example']);
  assert.ok(checked.notAfter.getTime() - Date.now() > 300 * 86_400_000);
});
