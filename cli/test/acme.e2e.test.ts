import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get as httpsGet } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { freePort, isAlive, spawnDetached, stopPid, waitForPort } from '@nap/common';
import { eventually, nap, TestPlatform } from '@nap/testkit';

interface AppEvent {
  type: string;
  detail: Record<string, unknown>;
}

/** A GET over HTTPS that trusts `ca`: pebble's management interface. */
function httpsText(url: string, ca: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body : null));
    }).on('error', reject);
  });
}

/** One HTTPS request through the router by SNI; the presented certificate, checked against `ca`. */
function overTls(port: number, host: string, ca: string): Promise<{ status: number; body: string; fingerprint: string; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: host, ca, rejectUnauthorized: false }, () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (raw += d));
    socket.on('error', reject);
    socket.on('end', () =>
      resolve({ status: Number(raw.split(' ')[1]), body: raw.slice(raw.indexOf('\r\n\r\n') + 4), fingerprint: socket.getPeerCertificate().fingerprint256, authorized: socket.authorized }),
    );
  });
}

/**
 * ACME on real engines against Debian's pebble (Let's Encrypt's test server), with
 * pebble-challtestsrv as its DNS (every name is 127.0.0.1): nap orders a certificate for a route on
 * a private domain, pebble checks HTTP-01 through the router's plain port, and the router serves
 * what pebble issued. With a renewal window longer than the certificate, every pass renews: each
 * new certificate replaces the last while requests go on, none dropped.
 */
describe('ACME: certificates nap gets and renews by itself, answered by the router', () => {
  let platform: TestPlatform;
  let dir: string;
  const pids: number[] = [];
  let pebbleRoot: string;
  let alice: Record<string, string>;
  let dnsManagement: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nap-acme-'));
    mkdirSync(join(dir, 'logs'));
    const [acmePort, managementPort, dnsPort, dnsManagementPort, routerPort, tlsAlpnPort] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
    // pebble serves its directory over HTTPS with a certificate of the test's own; nap trusts it through NAP_ACME_CA.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'pebble.key', '-out', 'pebble.crt', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
    writeFileSync(
      join(dir, 'pebble.json'),
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${managementPort}`,
          certificate: join(dir, 'pebble.crt'),
          privateKey: join(dir, 'pebble.key'),
          httpPort: routerPort,
          tlsPort: tlsAlpnPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    dnsManagement = dnsManagementPort;
    const dns = spawnDetached('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsManagementPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''], { logFile: join(dir, 'logs', 'challtestsrv.log') });
    pids.push(dns);
    const pebble = spawnDetached('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
      logFile: join(dir, 'logs', 'pebble.log'),
      // No random sleeps before validating, and no nonces refused on purpose: the test is about nap, not about retries.
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    });
    pids.push(pebble);
    assert.ok(await waitForPort('127.0.0.1', acmePort, 15_000, () => isAlive(pebble)), `pebble did not start: ${readFileSync(join(dir, 'logs', 'pebble.log'), 'utf8')}`);
    // pebble's issuing root, to check what the router serves against.
    pebbleRoot = await eventually(() => httpsText(`https://127.0.0.1:${managementPort}/roots/0`, readFileSync(join(dir, 'pebble.crt'), 'utf8')).catch(() => null), 10_000, "pebble's root");

    platform = await TestPlatform.start({
      env: {
        NAP_ROUTER_PORT: String(routerPort),
        NAP_ACME_DIRECTORY: `https://127.0.0.1:${acmePort}/dir`,
        NAP_ACME_CA: join(dir, 'pebble.crt'),
        NAP_ACME_EMAIL: 'ops@shop.test',
        NAP_ACME_INTERVAL_S: '2',
        // Longer than pebble's certificates last: every pass renews, so the test sees renewals.
        NAP_ACME_RENEW_DAYS: '100000',
      },
    });
    const admin = platform.cliEnv();
    alice = { ...admin, NAP_TOKEN: (JSON.parse((await nap(['users', 'create', 'alice', '--json'], admin)).stdout) as { token: string }).token };
    assert.equal((await nap(['create-domain', 'shop.test', '--owner', 'alice'], admin)).code, 0);
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'store', version: '1.0.0', private: true }));
    writeFileSync(join(app, 'server.js'), "require('http').createServer((q, s) => s.end('store ' + q.headers['x-forwarded-proto'])).listen(process.env.PORT);\n");
    const pushed = await nap(['push', 'store', '-p', app, '-m', '64M', '--route', 'www.shop.test'], alice);
    assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
  });

  after(async () => {
    await platform?.stop();
    await Promise.all(pids.map((pid) => stopPid(pid, 5000)));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a route on a private domain gets a certificate by HTTP-01 through the router, and it is served', async () => {
    const served = await eventually(
      async () => {
        const r = await overTls(platform.routerTlsPort, 'www.shop.test', pebbleRoot).catch(() => null);
        return r?.authorized ? r : null;
      },
      60_000,
      "a certificate from pebble, checked against pebble's root",
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await platform.logTail('controller-1')}\n${readFileSync(join(dir, 'logs', 'pebble.log'), 'utf8').slice(-3000)}`);
    });
    assert.equal(served.status, 200);
    assert.equal(served.body, 'store https');
    const listed = JSON.parse((await nap(['certs', '--json'], alice)).stdout) as { domain: string; source: string; owner: string }[];
    assert.deepEqual(listed.map((c) => [c.domain, c.source, c.owner]), [['www.shop.test', 'acme', 'alice']]);
    const events = JSON.parse((await nap(['events', 'store', '--json'], alice)).stdout) as AppEvent[];
    assert.ok(events.some((e) => e.type === 'certificate_issued' && e.detail.host === 'www.shop.test'), JSON.stringify(events.map((e) => e.type)));
  });

  test('a renewal replaces the certificate while requests go on: none is dropped', async () => {
    const first = (await overTls(platform.routerTlsPort, 'www.shop.test', pebbleRoot)).fingerprint;
    const seen = new Set<string>([first]);
    let requests = 0;
    const deadline = Date.now() + 60_000;
    while (seen.size < 3 && Date.now() < deadline) {
      const r = await overTls(platform.routerTlsPort, 'www.shop.test', pebbleRoot);
      requests++;
      assert.ok(r.authorized, `request ${requests}: the certificate is pebble's`);
      assert.equal(r.status, 200, `request ${requests}`);
      seen.add(r.fingerprint);
    }
    assert.ok(seen.size >= 3, `two renewals seen in a minute (${seen.size - 1} seen over ${requests} requests)`);
    assert.ok(new X509Certificate(pebbleRoot).subject.length > 0);
  });

  test('a failed order is an event with its retry, and the name keeps the default certificate', async () => {
    // pebble's DNS fails for this name: its HTTP-01 check cannot even find the router.
    const r = await fetch(`http://127.0.0.1:${dnsManagement}/set-servfail`, { method: 'POST', body: JSON.stringify({ host: 'broken.shop.test.' }) });
    assert.equal(r.status, 200);
    assert.equal((await nap(['map-route', 'store', 'broken.shop.test'], alice)).code, 0);
    const failed = await eventually(async () => {
      const events = JSON.parse((await nap(['events', 'store', '--json'], alice)).stdout) as AppEvent[];
      return events.find((e) => e.type === 'certificate_failed' && e.detail.host === 'broken.shop.test') ?? null;
    }, 60_000, 'a certificate_failed event');
    assert.equal(failed.detail.failures, 1);
    assert.ok(Date.parse(String(failed.detail.retry_at)) - Date.now() > 30_000, `a back-off, not a tight loop: ${String(failed.detail.retry_at)}`);
    assert.ok(String(failed.detail.error).length > 0);
    const listed = JSON.parse((await nap(['certs', '--json'], alice)).stdout) as { domain: string }[];
    assert.ok(!listed.some((c) => c.domain === 'broken.shop.test'));
    const served = await overTls(platform.routerTlsPort, 'broken.shop.test', pebbleRoot);
    assert.equal(served.authorized, false, 'not a certificate of pebble for it: the default');
  });
});
