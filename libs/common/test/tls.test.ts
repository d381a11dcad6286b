import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { PeerCertificate } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { caPinOf, ENGINES_CN, makeFirstNodeTls, makeNodeKey, NODE_CN, readCa, signNodeRequest } from '../src/engines/tls.js';
import { isEnginesNode } from '../src/bus/bus.js';
import { loadSettings } from '../src/settings.js';

const run = promisify(execFile);

describe('the cluster certificates (openssl)', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'nap-tls-'));
  });
  after(() => rm(home, { recursive: true, force: true }));

  test("the first node's certificate is an engines one for its address, signed by the CA it made", async () => {
    const files = await makeFirstNodeTls(home, '10.9.8.7');
    const ca = new X509Certificate(await readFile(files.ca));
    const cert = new X509Certificate(await readFile(files.cert));
    assert.equal(cert.subject, `CN=${ENGINES_CN}`);
    assert.equal(cert.subjectAltName, 'IP Address:10.9.8.7');
    assert.equal(cert.ca, false);
    assert.ok(cert.verify(ca.publicKey));
    assert.equal(ca.ca, true);
    // Again: the same CA and certificate are kept; another address gets a new certificate of the same CA.
    const again = await makeFirstNodeTls(home, '10.9.8.7');
    assert.equal(await readFile(again.cert, 'utf8'), await readFile(files.cert, 'utf8'));
    await makeFirstNodeTls(home, '10.9.8.6');
    const moved = new X509Certificate(await readFile(files.cert));
    assert.equal(moved.subjectAltName, 'IP Address:10.9.8.6');
    assert.ok(moved.verify(ca.publicKey));
  });

  test("a node's request is signed as the controller says: its kind's subject, its address only, no CA, whatever it asked", async () => {
    const ca = (await readCa(home))!;
    const csr = await makeNodeKey(join(home, 'other'));
    const node = new X509Certificate(await signNodeRequest(ca, csr, '10.9.8.5', 'node'));
    assert.equal(node.subject, `CN=${NODE_CN}`);
    assert.equal(node.subjectAltName, 'IP Address:10.9.8.5');
    const engines = new X509Certificate(await signNodeRequest(ca, csr, '10.9.8.5', 'engines'));
    assert.equal(engines.subject, `CN=${ENGINES_CN}`);
    await assert.rejects(signNodeRequest(ca, 'not a request', '10.9.8.5', 'node'), /expected one PEM certificate request/);
  });

  test("the CA's pin is the sha256 of its DER, as openssl computes it", async () => {
    const caFile = join(home, 'tls', 'ca.crt');
    const { stdout } = await run('sh', ['-c', `openssl x509 -in "${caFile}" -outform der | sha256sum`]);
    assert.equal(caPinOf(await readFile(caFile, 'utf8')), `sha256:${stdout.split(' ')[0]}`);
    assert.throws(() => caPinOf('garbage'));
  });

  test('a NATS server is taken only with an engines certificate: a DEA host cannot pose as one', () => {
    const cert = (cn: string) => ({ subject: { CN: cn } }) as unknown as PeerCertificate;
    assert.equal(isEnginesNode('localhost', cert(ENGINES_CN)), undefined);
    assert.match(String(isEnginesNode('localhost', cert(NODE_CN))), /not an engines node/);
    assert.match(String(isEnginesNode('localhost', cert('n-10-9-8-7'))), /not an engines node/);
  });

  test("a node with a certificate serves its API and directory server over https; without one, plain", async () => {
    const settingsHome = await mkdtemp(join(tmpdir(), 'nap-tls-settings-'));
    try {
      const env = { NAP_HOME: settingsHome, NAP_NODE_ADDRESS: '10.9.8.7' };
      const plain = loadSettings(env);
      assert.match(plain.controllerUrl, /^http:\/\/10\.9\.8\.7:/);
      const tls = loadSettings({ ...env, NAP_TLS_CA: '/ca.crt', NAP_TLS_CERT: '/node.crt', NAP_TLS_KEY: '/node.key' });
      assert.match(tls.controllerUrl, /^https:\/\/10\.9\.8\.7:/);
      assert.match(tls.directoryUrl, /^https:\/\//);
      assert.match(tls.routerUrl, /^http:\/\//, "apps' traffic is the router's, plain as before");
    } finally {
      await rm(settingsHome, { recursive: true, force: true });
    }
  });
});
