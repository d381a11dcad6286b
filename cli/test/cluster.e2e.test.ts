import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, repoRoot } from '@nap/testkit';
import { type InstanceDetail, startTestCluster, type TestCluster } from './support/test-cluster.js';

/**
 * Issue 14 on `deploy/local-cluster up 3`: three hosts, each its own network namespace, address
 * and dockerd; nap up on the first, nap join on the others. An app spreads over them and answers
 * through every host's router; logs come from every host; a tenant on one host reaches none of
 * the platform on another; join tokens hold against a hostile caller.
 */

const netprobeApp = `${repoRoot}cli/test/fixtures/netprobe`;

/** A certificate request as `nap join` makes one (a fresh key), asking for `address` unless `extra` says more. */
async function csrFor(address: string, extra: string[] = []): Promise<string> {
  return (await keyAndCsrFor(address, extra)).csr;
}

async function keyAndCsrFor(address: string, extra: string[] = []): Promise<{ key: string; csr: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'nap-csr-'));
  try {
    const subject = extra.includes('-subj') ? [] : ['-subj', '/CN=nap node'];
    const { stdout } = await promisify(execFile)('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key'), '-addext', `subjectAltName=IP:${address}`, ...subject, ...extra]);
    return { key: await readFile(join(dir, 'key'), 'utf8'), csr: stdout };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether a mutual-TLS handshake with `host:port` succeeds when this client presents `cert`. */
function handshake(host: string, port: number, client: { key: string; cert: string; ca: string }): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, ...client, checkServerIdentity: () => undefined });
    const done = (outcome: string) => {
      socket.destroy();
      resolve(outcome);
    };
    // TLS 1.3 reports a refused client certificate after the handshake, on the first read.
    socket.once('secureConnect', () => {
      socket.write('GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      socket.once('data', () => done('accepted'));
      socket.once('end', () => done('closed'));
    });
    socket.once('error', (err: Error) => done(`refused: ${err.message}`));
    socket.setTimeout(5000, () => done('timeout'));
  });
}

describe('a nap of three hosts (deploy/local-cluster up 3)', () => {
  let cluster: TestCluster;
  let api: string;
  let env: Record<string, string>;
  let hosts: string[];
  let instances: InstanceDetail[];

  const call = async (method: string, path: string, body?: unknown, token = env.NAP_TOKEN) => {
    const r = await httpGet(`${api}${path}`, { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, method, body === undefined ? undefined : JSON.stringify(body), 30_000, { ca: cluster.ca });
    return { status: r.status, body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {} };
  };
  const join_ = (body: unknown) => call('POST', '/v1/nodes/join', body, '');

  before(async () => {
    cluster = await startTestCluster(3);
    ({ api, env, hosts } = cluster);
    const push = await nap(['push', 'netprobe', '-p', netprobeApp, '-i', '6'], env);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    instances = await cluster.instances('netprobe');
  });

  after(() => cluster?.stop());

  test('nap nodes lists the three hosts with their roles and addresses, each healthy', async () => {
    const r = await nap(['nodes', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const nodes = JSON.parse(r.stdout) as { address: string; roles: string[]; health: string; etcd_member: string | null }[];
    assert.deepEqual(nodes.map((n) => n.address).sort(), [...hosts].sort());
    assert.deepEqual(nodes.find((n) => n.address === hosts[0])?.roles, ['engines', 'controller', 'router', 'dea']);
    assert.deepEqual(nodes.find((n) => n.address === hosts[1])?.roles, ['engines', 'controller', 'router', 'dea']);
    assert.deepEqual(nodes.find((n) => n.address === hosts[2])?.roles, ['engines', 'router', 'dea']);
    for (const n of nodes) {
      assert.equal(n.health, 'ok', JSON.stringify(n));
      assert.equal(n.etcd_member, 'voting', JSON.stringify(n));
    }
  });

  test('the engines are clusters: the blobstore is kept on the three NATS servers, each current', async () => {
    const via = await cluster.blobstoreVia(3);
    try {
      const jsm = await via.bus.nc.jetstreamManager();
      const info = await eventually(
        async () => {
          const i = await jsm.streams.info('OBJ_nap-blobs');
          return i.config.num_replicas === 3 && i.cluster?.replicas?.length === 2 && i.cluster.replicas.every((p) => p.current) ? i : null;
        },
        30_000,
        'three current replicas of the blobstore',
      );
      assert.deepEqual([info.cluster!.leader, ...info.cluster!.replicas!.map((p) => p.name)].sort(), hosts.map((h) => `n-${h.replaceAll('.', '-')}`).sort());
    } finally {
      await via.close();
    }
  });

  test('an app of 6 instances runs on all three hosts, two on each', () => {
    assert.equal(instances.length, 6);
    for (const i of instances) assert.equal(i.state, 'RUNNING', JSON.stringify(i));
    const perHost = hosts.map((h) => instances.filter((i) => i.host === h).length);
    assert.deepEqual(perHost, [2, 2, 2], JSON.stringify(instances));
  });

  test("the router of each host serves it, from instances on other hosts too", async () => {
    for (const h of hosts) {
      const seen = new Set<string>();
      await eventually(
        async () => {
          const r = await httpGet(`http://${h}:8080/`, { Host: 'netprobe.nap.localhost' });
          assert.equal(r.status, 200, r.body);
          seen.add(r.body);
          return seen.size === 6;
        },
        20_000,
        `all six instances through the router on ${h}`,
      );
    }
  });

  test("the second host's controller serves the same API: the app, its instances, and logs", async () => {
    const second = { ...env, NAP_API: cluster.apis[1] };
    const app = await nap(['app', 'netprobe', '--json'], second);
    assert.equal(app.code, 0, app.stderr);
    const seen = (JSON.parse(app.stdout) as { instance_details: InstanceDetail[] }).instance_details;
    assert.deepEqual(seen.map((i) => i.instance_id).sort(), instances.map((i) => i.instance_id).sort());
    const logs = await nap(['logs', 'netprobe', '--recent'], second);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /listening on 8080/);
  });

  test('nap logs reads the instances of every host', async () => {
    const r = await nap(['logs', 'netprobe'], env);
    assert.equal(r.code, 0, r.stderr);
    const indexes = new Set([...r.stdout.matchAll(/\[(\d)\/out\]/g)].map((m) => m[1]));
    assert.deepEqual([...indexes].sort(), ['0', '1', '2', '3', '4', '5'], r.stdout);
  });

  test("an instance on one host reaches none of the platform on another host, nor an instance there", async () => {
    const [first, second, third] = hosts;
    const prober = instances.find((i) => i.host === second)!;
    const victim = instances.find((i) => i.host === third)!;
    const targets = [`${first}:2379`, `${first}:2380`, `${first}:4222`, `${first}:6222`, `${third}:2379`, `${third}:6222`, `${first}:9022`, `${third}:9024`, `${third}:8080`, `${victim.host}:${victim.port}`];
    const query = [...targets, '127.0.0.1:8080'].map((t) => `to=${encodeURIComponent(t)}`).join('&');
    const r = await httpGet(`http://${prober.host}:${prober.port}/probe?${query}`);
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse(r.body) as Record<string, string>;
    // The control: the probe does connect where something listens for it, its own port.
    assert.equal(seen['127.0.0.1:8080'], 'connected');
    for (const t of targets) assert.notEqual(seen[t], 'connected', `the instance on ${second} reached ${t}: ${JSON.stringify(seen)}`);
  });

  test('the engines speak TLS between hosts: NATS takes no plain client, etcd answers https only, checked against the cluster CA', async () => {
    const ca = await readFile(join(cluster.state.hosts[0].napHome, 'tls', 'ca.crt'));
    const info = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: hosts[0], port: 4222 });
      socket.setEncoding('utf8').once('data', (line: string) => {
        socket.destroy();
        resolve(line);
      });
      socket.once('error', reject);
    });
    assert.match(info, /"tls_required":true/, info);
    const version = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      httpsGet(`https://${hosts[1]}:2379/version`, { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).once('error', reject);
    });
    assert.equal(version.status, 200, version.body);
    assert.match(version.body, /etcdserver/);
    const plain = await httpGet(`http://${hosts[1]}:2379/version`).catch((e: Error) => ({ status: 0, body: e.message }));
    assert.notEqual(plain.status, 200, `etcd answered plain HTTP: ${plain.body}`);
  });

  test('the API and the directory servers speak TLS only, and a CLI trusts them only through the pinned CA', async () => {
    // No plain HTTP on the API port.
    const plain = await httpGet(`http://${hosts[0]}:9022/v1/info`).catch((e: Error) => ({ status: 0, body: e.message }));
    assert.notEqual(plain.status, 200, `the API answered plain HTTP: ${plain.body}`);
    // The DEAs' signed URLs point to https directory servers (nap logs above read through them).
    const deas = await call('GET', '/v1/deas');
    const urls = (deas.body as unknown as { directory_url: string }[]).map((d) => d.directory_url);
    assert.equal(urls.length, 3, JSON.stringify(deas.body));
    for (const url of urls) assert.match(url, /^https:\/\//);
    // A CLI of its own: without a pin it is told what to do; with a wrong pin (a host in the way
    // handing its own CA looks the same) it trusts nothing and keeps no config.
    const home = await mkdtemp(join(tmpdir(), 'nap-cli-'));
    try {
      const fresh = { NAP_HOME: home };
      const bare = await nap(['whoami'], { ...fresh, NAP_API: api, NAP_TOKEN: env.NAP_TOKEN });
      assert.notEqual(bare.code, 0);
      assert.match(bare.stderr, /certificate this CLI does not trust.*--ca-pin/);
      const wrong = await nap(['target', api, '--ca-pin', `sha256:${'0'.repeat(64)}`], fresh);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /not the one pinned/);
      await assert.rejects(readFile(join(home, 'config.json')), /ENOENT/);
      const joinWrong = await nap(['join', api, '--no-setup', '--ca-pin', `sha256:${'0'.repeat(64)}`, '--advertise', '127.0.0.1'], { ...fresh, NAP_JOIN_TOKEN: 'x.y' });
      assert.notEqual(joinWrong.code, 0);
      assert.match(joinWrong.stderr, /not the one pinned/);
      const pin = (await nap(['nodes', 'token', 'create', '--json'], env)).stdout;
      const command = String((JSON.parse(pin) as { join_command: string }).join_command);
      const printed = /--ca-pin (sha256:[0-9a-f]{64})/.exec(command)?.[1];
      assert.ok(printed, command);
      const right = await nap(['target', api, '--ca-pin', printed], fresh);
      assert.equal(right.code, 0, right.stderr);
      const who = await nap(['whoami', '--json'], { ...fresh, NAP_TOKEN: env.NAP_TOKEN });
      assert.equal(who.code, 0, who.stderr);
      assert.equal((JSON.parse(who.stdout) as { name: string }).name, 'admin');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  describe('join tokens against a hostile caller', () => {
    test('a developer can make no join token, nor list nodes', async () => {
      const dev = await call('POST', '/v1/users', { name: 'mallory', role: 'developer' });
      assert.equal(dev.status, 201, JSON.stringify(dev.body));
      const token = String(dev.body.token);
      assert.equal((await call('POST', '/v1/nodes/tokens', {}, token)).status, 403);
      assert.equal((await call('GET', '/v1/nodes', undefined, token)).status, 403);
    });

    test('a wrong secret, a revoked token and a malformed one are refused, and record no node', async () => {
      const made = await call('POST', '/v1/nodes/tokens', { roles: ['router'] });
      assert.equal(made.status, 201);
      const [id, secret] = String(made.body.token).split('.');
      const wrong = `${id}.${secret.replace(/^./, (c) => (c === '0' ? '1' : '0'))}`;
      const refused = await join_({ token: wrong, address: '10.250.9.9', roles: ['router'] });
      assert.equal(refused.status, 401, JSON.stringify(refused.body));
      assert.equal((await join_({ token: 'not-a-token', address: '10.250.9.9', roles: ['router'] })).status, 400);
      assert.equal((await join_({ token: made.body.token, address: '10.250.9.9', roles: ['router'], extra: 1 })).status, 400);
      assert.equal((await call('DELETE', `/v1/nodes/tokens/${id}`)).status, 200);
      assert.equal((await join_({ token: made.body.token, address: '10.250.9.9', roles: ['router'] })).status, 401);
      const nodes = (await call('GET', '/v1/nodes')).body as unknown as { address: string }[];
      assert.ok(!nodes.some((n) => n.address === '10.250.9.9'), JSON.stringify(nodes));
    });

    test("every node gets a certificate for its own address only, whatever its request asks; only an engines node's is taken as an etcd peer; no node's address is taken twice", async () => {
      const ca = await readFile(join(cluster.state.hosts[0].napHome, 'tls', 'ca.crt'), 'utf8');
      const routerToken = (await call('POST', '/v1/nodes/tokens', { roles: ['router'] })).body.token;
      // A router (or DEA) serves its directory server or API between hosts: a node certificate, not
      // an engines one. It joins as this machine's address on the cluster's bridge, so that the
      // test presents it from the address it names (etcd also checks that).
      const own = cluster.state.gateway;
      const routerKey = await keyAndCsrFor(own, ['-subj', '/CN=nap-engines']);
      const router = await join_({ token: routerToken, address: own, roles: ['router'], csr: routerKey.csr });
      assert.equal(router.status, 201, JSON.stringify(router.body));
      const routerTls = router.body.tls as { ca: string; cert: string };
      assert.equal(routerTls.ca, ca);
      const routerCert = new X509Certificate(routerTls.cert);
      assert.equal(routerCert.subject, 'CN=nap-node', 'the subject is the controller\'s, not the request\'s');
      assert.equal(routerCert.subjectAltName, `IP Address:${own}`);
      assert.equal(routerCert.ca, false);
      try {
        // The attack: that certificate, valid and of the cluster's CA, offered to an etcd peer port. Refused.
        const asPeer = await handshake(hosts[0], 2380, { key: routerKey.key, cert: routerTls.cert, ca });
        assert.notEqual(asPeer, 'accepted', "a router's certificate was taken by etcd's peer port");
      } finally {
        assert.equal((await call('DELETE', `/v1/nodes/${String((router.body.node as { id: string }).id)}`)).status, 200);
      }
      // Another host's address, even with a valid token: refused, and that node's record stays as it was.
      const taken = await join_({ token: routerToken, address: hosts[2], roles: ['router'], csr: await csrFor(hosts[2]) });
      assert.equal(taken.status, 409, JSON.stringify(taken.body));
      const third = ((await call('GET', '/v1/nodes')).body as unknown as { address: string; roles: string[] }[]).find((n) => n.address === hosts[2]);
      assert.deepEqual(third?.roles, ['engines', 'router', 'dea']);

      const enginesToken = (await call('POST', '/v1/nodes/tokens', { roles: ['engines'] })).body.token;
      // This machine's address again, where no etcd listens: the learner etcd adds for it is never reached.
      const absent = own;
      const without = await join_({ token: enginesToken, address: absent, roles: ['engines'] });
      assert.equal(without.status, 400, JSON.stringify(without.body));
      assert.equal((without.body.error as { code: string }).code, 'csr_required');
      const garbage = await join_({ token: enginesToken, address: absent, roles: ['engines'], csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' });
      assert.equal(garbage.status, 400, JSON.stringify(garbage.body));
      // A request for the first host's name and address, and for a CA.
      const greedy = await keyAndCsrFor(hosts[0], ['-addext', 'basicConstraints=critical,CA:TRUE', '-subj', '/CN=nap cluster CA']);
      const joined = await join_({ token: enginesToken, address: absent, roles: ['engines'], csr: greedy.csr });
      assert.equal(joined.status, 201, JSON.stringify(joined.body));
      try {
        const certPem = (joined.body.tls as { cert: string }).cert;
        const cert = new X509Certificate(certPem);
        assert.equal(cert.subjectAltName, `IP Address:${absent}`);
        assert.equal(cert.subject, 'CN=nap-engines');
        assert.equal(cert.ca, false);
        assert.ok(cert.verify(new X509Certificate(ca).publicKey), 'signed by the cluster CA');
        // The control: an engines certificate is taken by the peer port, so the refusal above was its subject's.
        assert.equal(await handshake(hosts[0], 2380, { key: greedy.key, cert: certPem, ca }), 'accepted');
      } finally {
        assert.equal((await call('DELETE', `/v1/nodes/${String((joined.body.node as { id: string }).id)}`)).status, 200);
      }
    });

    test('a node gets only the secrets of its roles, and only the roles its token allows', async () => {
      const made = await call('POST', '/v1/nodes/tokens', { roles: ['router'] });
      assert.equal((await join_({ token: made.body.token, address: '10.250.9.8', roles: ['router', 'dea'] })).status, 422);
      assert.equal((await join_({ token: made.body.token, address: '10.250.9.8', roles: ['engines'] })).status, 422);
      const joined = await join_({ token: made.body.token, address: '10.250.9.8', roles: ['router'], csr: await csrFor('10.250.9.8') });
      assert.equal(joined.status, 201, JSON.stringify(joined.body));
      const secrets = joined.body.secrets as { etcd: Record<string, string>; nats: Record<string, string>; admin_token?: string; directory_secret?: string };
      assert.deepEqual(Object.keys(secrets.etcd), ['router']);
      assert.deepEqual(Object.keys(secrets.nats), ['router']);
      assert.equal(secrets.admin_token, undefined);
      assert.equal(secrets.directory_secret, undefined);
      assert.equal((secrets as Record<string, unknown>).etcd_root, undefined);
      assert.equal((secrets as Record<string, unknown>).nats_route, undefined);
      // A router opens the certificates' keys it serves.
      assert.match(String((secrets as Record<string, unknown>).cert_key), /^[0-9a-f]{64}$/);
      assert.equal((await call('DELETE', `/v1/nodes/${String((joined.body.node as { id: string }).id)}`)).status, 200);
    });

    test('an engines node that joins and never comes up costs nothing: its etcd member is a learner, and goes with the node', async () => {
      // An address on the cluster's own bridge that no host has: nothing answers there.
      const absent = hosts[0].replace(/\.\d+$/, '.99');
      const made = await call('POST', '/v1/nodes/tokens', { roles: ['engines'] });
      const joined = await join_({ token: made.body.token, address: absent, roles: ['engines'], csr: await csrFor(absent) });
      assert.equal(joined.status, 201, JSON.stringify(joined.body));
      const settings = joined.body.settings as Record<string, string>;
      assert.match(settings.NAP_ETCD_INITIAL_CLUSTER, new RegExp(`=https://${absent.replaceAll('.', '\\.')}:2380`));
      assert.deepEqual(settings.NAP_NATS_PEERS.split(',').sort(), [...hosts].sort());
      const id = String((joined.body.node as { id: string }).id);
      const memberOf = async () => ((await call('GET', '/v1/nodes')).body as unknown as { id: string; etcd_member: string }[]).find((n) => n.id === id)?.etcd_member;
      assert.equal(await memberOf(), 'learner');
      // etcd still takes writes: the learner does not count towards the quorum.
      const user = await call('POST', '/v1/users', { name: 'after-learner', role: 'developer' });
      assert.equal(user.status, 201, JSON.stringify(user.body));
      const removed = await nap(['nodes', 'remove', id, '--json'], env);
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal((JSON.parse(removed.stdout) as { etcd_member_removed: boolean }).etcd_member_removed, true);
      const nodes = (await call('GET', '/v1/nodes')).body as unknown as { id: string; etcd_member: string }[];
      assert.ok(!nodes.some((n) => n.id === id), JSON.stringify(nodes));
      assert.ok(nodes.every((n) => n.etcd_member === 'voting'), JSON.stringify(nodes));
    });
  });
});
