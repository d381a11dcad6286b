import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { connectEtcd, keys, loadSettings } from '@nap/common';
import { eventually, httpGet, nap, TestPlatform } from '@nap/testkit';

/** The test's own certificate authority and the leaves it issues (openssl, as deploy/setup installs it). */
class TestCa {
  readonly cert: string;

  constructor(private readonly dir: string) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=nap test CA'], { cwd: dir, stdio: 'ignore' });
    this.cert = readFileSync(join(dir, 'ca.crt'), 'utf8');
  }

  /** A leaf for `names`, its chain (leaf, then the CA) and key as files. */
  issue(label: string, names: string[]): { certFile: string; keyFile: string; cert: string } {
    const d = this.dir;
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${label}.key`, '-out', `${label}.csr`, '-subj', `/CN=${names[0]}`], { cwd: d, stdio: 'ignore' });
    writeFileSync(join(d, `${label}.ext`), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
    execFileSync('openssl', ['x509', '-req', '-in', `${label}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(Date.now()), '-days', '20', '-extfile', `${label}.ext`, '-out', `${label}.crt`], { cwd: d, stdio: 'ignore' });
    const cert = readFileSync(join(d, `${label}.crt`), 'utf8');
    writeFileSync(join(d, `${label}.chain`), cert + this.cert);
    return { certFile: join(d, `${label}.chain`), keyFile: join(d, `${label}.key`), cert };
  }
}

interface TlsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The certificate the router presented, its SHA-256 fingerprint. */
  fingerprint: string;
  authorized: boolean;
}

/** An app that answers with the request's headers, and echoes what follows a websocket upgrade. */
const ECHO_APP = `
const http = require('http');
const crypto = require('crypto');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ url: req.url, headers: req.headers }));
});
server.on('upgrade', (req, socket) => {
  const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\nX-Proto-Seen: ' + req.headers['x-forwarded-proto'] + '\\r\\n\\r\\n');
  socket.pipe(socket);
});
server.listen(process.env.PORT);
`;

/**
 * Issue 17's HTTPS at the edge, on real engines: the router terminates TLS and picks the
 * certificate by SNI (a user's uploaded one, checked against the test's own CA, else the
 * platform's default), never another tenant's; https-only routes are redirected; keep-alive,
 * pipelining and websockets hold over TLS; certificates are a tenant's own.
 */
describe('HTTPS at the edge: certificates by SNI, the default certificate, https-only routes', () => {
  let platform: TestPlatform;
  let admin: Record<string, string>;
  let alice: Record<string, string>;
  let bob: Record<string, string>;
  let dir: string;
  let ca: TestCa;
  let defaultCert: { cert: string; fingerprint: string };

  /** One request over TLS to the router, with `servername` as SNI (none when undefined). */
  function tlsRequest(servername: string | undefined, host: string, path = '/', o: { ca?: string; method?: string } = {}): Promise<TlsAnswer> {
    return new Promise((resolve, reject) => {
      const options: ConnectionOptions = { host: '127.0.0.1', port: platform.routerTlsPort, rejectUnauthorized: false, ca: o.ca, ALPNProtocols: ['http/1.1'] };
      if (servername !== undefined) options.servername = servername;
      const socket = tlsConnect(options, () => {
        socket.write(`${o.method ?? 'GET'} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      });
      let raw = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (raw += d));
      socket.on('error', reject);
      socket.on('end', () => {
        const [head, ...rest] = raw.split('\r\n\r\n');
        const [statusLine, ...lines] = head.split('\r\n');
        const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const body = headers['transfer-encoding'] === 'chunked' ? dechunk(rest.join('\r\n\r\n')) : rest.join('\r\n\r\n');
        resolve({ status: Number(statusLine.split(' ')[1]), headers, body, fingerprint: socket.getPeerCertificate().fingerprint256, authorized: socket.authorized });
      });
    });
  }

  before(async () => {
    platform = await TestPlatform.start();
    admin = platform.cliEnv();
    dir = mkdtempSync(join(tmpdir(), 'nap-https-'));
    ca = new TestCa(dir);
    const user = async (name: string) => ({ ...admin, NAP_TOKEN: (JSON.parse((await nap(['users', 'create', name, '--json'], admin)).stdout) as { token: string }).token });
    alice = await user('alice');
    bob = await user('bob');
    assert.equal((await nap(['create-domain', 'acme.test', '--owner', 'alice'], admin)).code, 0);
    const app = join(dir, 'echo');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'echo', version: '1.0.0', private: true }));
    writeFileSync(join(app, 'server.js'), ECHO_APP);
    const pushed = await nap(['push', 'echo', '-p', app, '-m', '64M', '--route', 'echo.nap.localhost', '--route', 'shop.acme.test'], alice);
    assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
    // The controller makes the default certificate at start; an admin sees it (its chain only).
    const certs = await eventually(async () => {
      const listed = JSON.parse((await nap(['certs', '--json'], admin)).stdout) as { default: boolean; cert: string; domain: string }[];
      return listed.find((c) => c.default) ?? null;
    }, 20_000, 'the default certificate');
    assert.equal(certs.domain, 'nap.localhost');
    defaultCert = { cert: certs.cert, fingerprint: new X509Certificate(certs.cert).fingerprint256 };
  });

  after(async () => {
    await platform?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('an app on the shared domain answers over HTTPS with the default certificate, and hears X-Forwarded-Proto: https', async () => {
    const r = await eventually(async () => {
      const a = await tlsRequest('echo.nap.localhost', 'echo.nap.localhost', '/hello', { ca: defaultCert.cert }).catch(() => null);
      return a?.status === 200 ? a : null;
    }, 20_000, 'an answer over HTTPS');
    assert.ok(r.authorized, 'the default certificate names echo.nap.localhost (*.nap.localhost) and is the one the API gave');
    assert.equal(r.fingerprint, defaultCert.fingerprint);
    const seen = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/hello');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    // A client that claims https over plain HTTP is believed only on the plain port (a load balancer in front), never upgraded by it.
    const plain = await httpGet(`${platform.routerUrl}/`, { Host: 'echo.nap.localhost' });
    assert.equal((JSON.parse(plain.body) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http');
    // TLS 1.2 at least.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: platform.routerTlsPort, servername: 'echo.nap.localhost', rejectUnauthorized: false, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }, () => resolve(s));
        s.on('error', reject);
      }),
    );
  });

  test("a developer's certificate serves her own domain by SNI, checked against her CA; its key is never given back", async () => {
    const leaf = ca.issue('shop', ['shop.acme.test']);
    const added = await nap(['certs', 'add', 'shop.acme.test', '--cert', leaf.certFile, '--key', leaf.keyFile, '--json'], alice);
    assert.equal(added.code, 0, added.stderr);
    assert.ok(!added.stdout.includes('PRIVATE KEY'));
    const r = await eventually(async () => {
      const a = await tlsRequest('shop.acme.test', 'shop.acme.test', '/', { ca: ca.cert });
      return a.authorized ? a : null;
    }, 15_000, "the router to serve alice's certificate");
    assert.equal(r.status, 200);
    assert.equal(r.fingerprint, new X509Certificate(leaf.cert).fingerprint256);
    // At rest the key is sealed: etcd holds no PEM key.
    const etcd = connectEtcd(loadSettings({ ...platform.engines.env, NAP_LOG_LEVEL: 'silent' }));
    try {
      const stored = await etcd.get(keys.cert('shop.acme.test')).string();
      assert.ok(stored && stored.includes('key_sealed') && !stored.includes('PRIVATE KEY'), 'the stored record holds no key in the clear');
    } finally {
      etcd.close();
    }
    const listed = await nap(['certs', '--json'], alice);
    assert.deepEqual((JSON.parse(listed.stdout) as { domain: string }[]).map((c) => c.domain), ['shop.acme.test']);
    assert.ok(!listed.stdout.includes('PRIVATE KEY') && !listed.stdout.includes('key_sealed'));
  });

  test("a name no certificate serves gets the default, never another tenant's; a client without SNI too", async () => {
    for (const name of ['other.acme.test', 'acme.test', 'evil.shop.acme.test', undefined]) {
      const r = await tlsRequest(name, 'echo.nap.localhost');
      assert.equal(r.fingerprint, defaultCert.fingerprint, `SNI ${name ?? '(none)'}`);
    }
  });

  test("another developer can neither add a certificate for alice's names, nor see nor remove hers; bad certificates are refused", async () => {
    const stolen = ca.issue('stolen', ['shop.acme.test', 'echo.nap.localhost']);
    for (const domain of ['shop.acme.test', '*.acme.test', 'echo.nap.localhost', 'nap.localhost', '*.nap.localhost']) {
      const r = await nap(['certs', 'add', domain, '--cert', stolen.certFile, '--key', stolen.keyFile], bob);
      assert.notEqual(r.code, 0, domain);
      assert.match(r.stderr, /not yours|no app of yours|shared domain|admins only|platform's own/, `${domain}: ${r.stderr}`);
    }
    assert.deepEqual(JSON.parse((await nap(['certs', '--json'], bob)).stdout), []);
    const removed = await nap(['certs', 'remove', 'shop.acme.test'], bob);
    assert.notEqual(removed.code, 0);
    assert.match(removed.stderr, /no certificate of yours/);
    // Alice's own mistakes: a certificate for another name, and a key that is not the certificate's.
    const other = ca.issue('other', ['other.example']);
    const wrongName = await nap(['certs', 'add', 'shop.acme.test', '--cert', other.certFile, '--key', other.keyFile], alice);
    assert.match(wrongName.stderr, /does not name shop\.acme\.test/);
    const wrongKey = await nap(['certs', 'add', 'shop.acme.test', '--cert', stolen.certFile, '--key', other.keyFile], alice);
    assert.match(wrongKey.stderr, /not the certificate's/);
    // Her certificate is still the one served.
    assert.ok((await tlsRequest('shop.acme.test', 'shop.acme.test', '/', { ca: ca.cert })).authorized);
  });

  test('keep-alive and pipelining hold over TLS; a websocket works over TLS', async () => {
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: platform.routerTlsPort, servername: 'shop.acme.test', ca: ca.cert }, () => resolve(s));
      s.on('error', reject);
    });
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (raw += d));
    socket.write('GET /one HTTP/1.1\r\nHost: shop.acme.test\r\n\r\nGET /two HTTP/1.1\r\nHost: shop.acme.test\r\n\r\n');
    await eventually(async () => (raw.match(/HTTP\/1\.1 200/g) ?? []).length === 2, 10_000, 'two answers on one connection');
    assert.ok(raw.indexOf('"/one"') < raw.indexOf('"/two"'), 'in the order asked');
    assert.ok(!socket.destroyed, 'kept alive');
    socket.write('GET /upgrade HTTP/1.1\r\nHost: shop.acme.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await eventually(async () => raw.includes('101 Switching Protocols') && raw.endsWith('\r\n\r\n'), 10_000, 'the upgrade');
    assert.match(raw, /X-Proto-Seen: https/i);
    const before = raw.length;
    socket.write('echo over tls');
    await eventually(async () => raw.slice(before) === 'echo over tls', 10_000, 'the echo through the websocket');
    socket.destroy();
  });

  test('an https-only route redirects plain HTTP to HTTPS and sends HSTS over HTTPS; turned off, plain HTTP is served again', async () => {
    const on = await nap(['map-route', 'echo', 'shop.acme.test', '--https-only', '--json'], alice);
    assert.equal(on.code, 0, on.stderr);
    const redirect = await eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/a?b=c`, { Host: 'shop.acme.test' });
      return r.status === 301 ? r : null;
    }, 15_000, 'the redirect');
    assert.equal(redirect.headers.location, `https://shop.acme.test:${platform.routerTlsPort}/a?b=c`);
    // A plain websocket is sent to TLS too: it would carry the route's traffic in the clear.
    const upgrade = await new Promise<string>((resolve, reject) => {
      const s = netConnect(Number(new URL(platform.routerUrl).port), '127.0.0.1', () =>
        s.write('GET /ws HTTP/1.1\r\nHost: shop.acme.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
      );
      let raw = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (raw += d));
      s.on('end', () => resolve(raw));
      s.on('error', reject);
    });
    assert.match(upgrade, /^HTTP\/1\.1 301 /);
    assert.match(upgrade, new RegExp(`Location: https://shop\\.acme\\.test:${platform.routerTlsPort}/ws`));
    const secure = await tlsRequest('shop.acme.test', 'shop.acme.test', '/', { ca: ca.cert });
    assert.equal(secure.status, 200);
    assert.match(secure.headers['strict-transport-security'] ?? '', /max-age=\d+/);
    // The other route of the app is not https-only, and has no HSTS.
    assert.equal((await httpGet(`${platform.routerUrl}/`, { Host: 'echo.nap.localhost' })).status, 200);
    assert.equal((await tlsRequest('echo.nap.localhost', 'echo.nap.localhost')).headers['strict-transport-security'], undefined);
    // Bob cannot set options on a route he does not hold.
    const bobs = await nap(['push', 'bobs', '-p', join(dir, 'echo'), '-m', '64M', '--no-start'], bob);
    assert.equal(bobs.code, 0, bobs.stderr);
    assert.notEqual((await nap(['map-route', 'bobs', 'echo.nap.localhost', '--https-only'], bob)).code, 0);

    assert.equal((await nap(['map-route', 'echo', 'shop.acme.test', '--no-https-only'], alice)).code, 0);
    await eventually(async () => (await httpGet(`${platform.routerUrl}/`, { Host: 'shop.acme.test' })).status === 200, 15_000, 'plain HTTP again');
  });

  test('a removed certificate falls back to the default', async () => {
    assert.equal((await nap(['certs', 'remove', 'shop.acme.test'], alice)).code, 0);
    await eventually(async () => (await tlsRequest('shop.acme.test', 'shop.acme.test')).fingerprint === defaultCert.fingerprint, 15_000, 'the default certificate again');
  });
});

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    if (nl < 0) return out;
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}
