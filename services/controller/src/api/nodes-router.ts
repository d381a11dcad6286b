import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { addEtcdLearner, signNodeRequest, engineUrlsOf, type Etcd3, removeEtcdMember, badRequest, type ClusterSecrets, connectEtcdAsRoot, conflict, JOIN_TOKEN, type JoinAnswer, JoinRequest, type JoinSettings, type JoinTokenRecord, NapError, nodeIdOf, type NodeRecord, notFound, type NodeRole, type Settings, unauthorized } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import { requireAdmin } from '../auth/bearer.js';
import type { DeaPool } from '../placement/dea-pool.js';
import type { NodesRepository } from '../store/nodes-repository.js';

/** Every role can join; `engines` adds the node's etcd member (a learner first) and NATS server to the clusters. */
const JOINABLE = ['engines', 'controller', 'router', 'dea'] as const satisfies readonly NodeRole[];
/** A token allows these unless it says otherwise: a controller node holds the admin token, so it must be asked for. */
const DEFAULT_TOKEN_ROLES: NodeRole[] = ['router', 'dea'];

export const NewJoinToken = z
  .object({
    roles: z.array(z.enum(JOINABLE)).min(1).max(JOINABLE.length).optional(),
    /** Hours until it expires: a day unless said (Kubernetes' bootstrap tokens last as long). */
    ttl_hours: z.number().int().min(1).max(24 * 30).optional(),
  })
  .strict();


const digestOf = (secret: string) => createHash('sha256').update(secret).digest('hex');
const isLoopback = (url: string) => /^[a-z]+:\/\/(127\.|localhost\b|\[::1\])/.test(url);


/** What each role's programs need of the cluster's secrets; nothing more is handed out. */
function secretsFor(roles: NodeRole[], all: ClusterSecrets): JoinAnswer['secrets'] {
  const out: JoinAnswer['secrets'] = {};
  const clients = (['controller', 'dea', 'router'] as const).filter((c) => roles.includes(c));
  if (clients.length) {
    out.etcd = Object.fromEntries(clients.map((c) => [c, all.etcd[c]]));
    out.nats = Object.fromEntries(clients.map((c) => [c, all.nats[c]]));
  }
  if (roles.includes('dea') || roles.includes('controller')) out.directory_secret = all.directory_secret;
  if (roles.includes('controller')) out.admin_token = all.admin_token;
  if (roles.includes('controller') || roles.includes('router')) out.cert_key = all.cert_key;
  // An engines node holds every key in its etcd member and checks every NATS user's password: it
  // gets etcd's root (which reads the cluster secrets, admin token and CA key included), so an
  // engines token is as powerful as the admin's (docs/security.md).
  if (roles.includes('engines')) {
    out.etcd = all.etcd;
    out.nats = all.nats;
    out.etcd_root = all.etcd_root;
    out.nats_route = all.nats_route;
  }
  return out;
}

/**
 * `POST /v1/nodes/join` (docs/contract.md §2.11): open, since a joining host has no API token; the
 * join token in the body is its credential, checked in constant time against its digest.
 */
export function nodesJoinRouter(nodes: NodesRepository, settings: Settings): Router {
  const router = Router();
  router.post('/v1/nodes/join', express.json({ limit: '16kb' }), async (req, res) => {
    const parsed = JoinRequest.safeParse(req.body);
    if (!parsed.success) throw badRequest('invalid_join', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    const { token, address, roles, csr } = parsed.data;
    const [, id, secret] = JOIN_TOKEN.exec(token)!;
    const record = await nodes.token(id);
    const presented = Buffer.from(digestOf(secret), 'hex');
    if (!record || !timingSafeEqual(presented, Buffer.from(record.digest, 'hex'))) throw unauthorized('unknown or revoked join token: ask an admin for a new one (nap nodes token create)');
    if (Date.parse(record.expires_at) < Date.now()) throw unauthorized(`join token ${id} expired at ${record.expires_at}: ask an admin for a new one`);
    const refused = roles.filter((r) => !record.roles.includes(r));
    if (refused.length) throw new NapError(422, 'role_refused', `this node cannot take ${refused.join(', ')}: the token allows ${record.roles.join(', ')}`);
    const engineUrls = [...settings.natsUrls, ...settings.etcdUrls, settings.controllerUrl];
    if (engineUrls.some(isLoopback)) throw conflict('first_node_on_loopback', 'the first node listens on 127.0.0.1 only: run `nap up --advertise IP` on it (with an address the other hosts reach), then join');
    const all = await nodes.secrets();
    if (!all) throw new NapError(503, 'not_ready', 'the first node has not finished `nap up` (the cluster secrets are not published yet): try again in a few seconds');
    // Every node gets the CA and a certificate for its address: what it serves between hosts (the
    // API, a directory server, the engines) speaks TLS. Only an engines join gets an engines
    // certificate, the one etcd's peers and NATS's clients take.
    let tls: JoinAnswer['tls'];
    if (all.tls_ca_cert && all.tls_ca_key) {
      if (!csr) throw badRequest('csr_required', 'this nap speaks TLS between hosts: a node must send a certificate request (nap join makes one; update nap on this host)');
      try {
        tls = { ca: all.tls_ca_cert, cert: await signNodeRequest({ caCert: all.tls_ca_cert, caKey: all.tls_ca_key }, csr, address, roles.includes('engines') ? 'engines' : 'node') };
      } catch (err) {
        throw badRequest('invalid_csr', `the certificate request was refused: ${(err as Error).message}`);
      }
    }
    const node: NodeRecord = { id: nodeIdOf(address), address, roles, joined_at: new Date().toISOString(), token_id: id };
    // An address is one node: a host that joined before is removed first (nap nodes remove), so a
    // join token never takes over another node's record, roles or certificate.
    if (!(await nodes.addJoined(node))) throw conflict('address_taken', `${address} is already a node of this nap: a joining host advertises its own address (to join a host again, nap nodes remove ${node.id} first)`);
    // Every engines node's engines (this one's too, once it is one): a client survives the loss of any one.
    const engineNodes = (await nodes.list()).filter((n) => n.roles.includes('engines') && n.address !== address).map((n) => n.address);
    const withOwn = roles.includes('engines') ? [...engineNodes, address] : engineNodes;
    const urls = engineUrlsOf(settings);
    const etcdUrls = withOwn.length ? withOwn.map(urls.etcd) : settings.etcdUrls;
    const natsUrls = withOwn.length ? withOwn.map(urls.nats) : settings.natsUrls;
    const engines: Partial<JoinSettings> = {};
    if (roles.includes('engines')) {
      try {
        const root = connectEtcdAsRoot(etcdUrls.filter((u) => !u.includes(`//${address}:`)), all.etcd_root, settings.tls?.ca);
        try {
          engines.NAP_ETCD_INITIAL_CLUSTER = await addEtcdLearner(root, node.id, urls.etcdPeer(address));
        } finally {
          root.close();
        }
      } catch (err) {
        // Nothing of the join stays: the record goes, and the host may try again.
        await nodes.delete(node.id).catch(() => {});
        const message = (err as Error).message;
        if (/too many learner/.test(message)) {
          throw conflict('learner_pending', `etcd takes one new member at a time, and a node that joined earlier has not caught up (nap nodes shows its etcd as learner): wait until it votes, or remove it (nap nodes remove ID) if it never comes up`);
        }
        throw new NapError(503, 'etcd_member_refused', `etcd did not take ${address} as a member: ${message}; try the join again in a few seconds`);
      }
      if (engineNodes.length) engines.NAP_NATS_PEERS = engineNodes.join(',');
    }
    const shared: JoinSettings = {
      NAP_NODE_ADDRESS: address,
      NAP_NODE_ROLES: roles.join(','),
      NAP_NATS_URL: natsUrls.join(','),
      NAP_ETCD_URLS: etcdUrls.join(','),
      ...engines,
      NAP_CONTROLLER_URL: settings.controllerUrl,
      NAP_DOMAIN: settings.domain,
      NAP_INSTALLATION_ID: settings.installationId,
    };
    res.status(201).json({ node, settings: shared, secrets: secretsFor(roles, all), ...(tls ? { tls } : {}) });
  });
  return router;
}

/** Nodes and join tokens, for admins (docs/contract.md §2.11). */
export function nodesRouter(nodes: NodesRepository, pool: DeaPool, settings: Settings, etcd: Etcd3): Router {
  const router = Router();
  router.get('/v1/nodes', async (req, res) => {
    requireAdmin(req, 'list nodes');
    const deas = pool.live();
    const members = await etcd.cluster
      .memberList({})
      .then((r) => r.members)
      .catch(() => null);
    const memberOf = (n: NodeRecord) => {
      if (!n.roles.includes('engines')) return null;
      if (!members) return 'unknown';
      const m = members.find((m) => m.peerURLs.some((u) => new URL(u).hostname === n.address));
      return !m ? 'not a member' : m.isLearner ? 'learner' : 'voting';
    };
    const list = (await nodes.list()).map((n) => {
      const dea = deas.find((d) => d.host === n.address);
      const instances = dea ? Object.values(dea.app_id_to_count).reduce((a, b) => a + b, 0) : 0;
      const health = !n.roles.includes('dea') ? 'unknown' : !dea ? 'dea not advertising' : dea.unavailable ? `dea unavailable: ${dea.unavailable}` : 'ok';
      return { ...n, health, dea: dea?.id ?? null, instances, etcd_member: memberOf(n) };
    });
    res.json(list.sort((a, b) => a.joined_at.localeCompare(b.joined_at)));
  });
  router.delete('/v1/nodes/:id', async (req, res) => {
    requireAdmin(req, 'remove nodes');
    const id = String(req.params.id);
    const node = (await nodes.list()).find((n) => n.id === id);
    if (!node) throw notFound('node_not_found', `no node ${id}`);
    // Its etcd member goes first: a member that is gone for good would otherwise count against the quorum for ever.
    let etcdMemberRemoved = false;
    const all = node.roles.includes('engines') ? await nodes.secrets() : null;
    if (all) {
      const others = (await nodes.list()).filter((n) => n.roles.includes('engines') && n.id !== id).map((n) => engineUrlsOf(settings).etcd(n.address));
      const root = connectEtcdAsRoot(others.length ? others : settings.etcdUrls, all.etcd_root, settings.tls?.ca);
      try {
        etcdMemberRemoved = await removeEtcdMember(root, node.address);
      } catch (err) {
        throw new NapError(503, 'etcd_member_not_removed', `etcd did not remove ${node.address}'s member: ${(err as Error).message}; try again in a few seconds`);
      } finally {
        root.close();
      }
    }
    await nodes.delete(id);
    res.json({ removed: id, etcd_member_removed: etcdMemberRemoved });
  });
  router.get('/v1/nodes/tokens', async (req, res) => {
    requireAdmin(req, 'list join tokens');
    res.json((await nodes.tokens()).map(({ digest: _, ...t }) => ({ ...t, expired: Date.parse(t.expires_at) < Date.now() })));
  });
  router.post('/v1/nodes/tokens', express.json({ limit: '4kb' }), async (req, res) => {
    const by = requireAdmin(req, 'make join tokens').name;
    const parsed = NewJoinToken.safeParse(req.body ?? {});
    if (!parsed.success) throw badRequest('invalid_token_request', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    const secret = randomBytes(24).toString('hex');
    const now = Date.now();
    const record: JoinTokenRecord = {
      id: randomBytes(4).toString('hex'),
      digest: digestOf(secret),
      roles: parsed.data.roles ?? DEFAULT_TOKEN_ROLES,
      created_at: new Date(now).toISOString(),
      created_by: by,
      expires_at: new Date(now + (parsed.data.ttl_hours ?? 24) * 3_600_000).toISOString(),
    };
    if (!(await nodes.addToken(record))) throw conflict('token_id_taken', 'a token with this id exists: try again');
    const { digest: _, ...view } = record;
    res.status(201).json({ ...view, token: `${record.id}.${secret}` });
  });
  router.delete('/v1/nodes/tokens/:id', async (req, res) => {
    requireAdmin(req, 'revoke join tokens');
    if (!(await nodes.revokeToken(String(req.params.id)))) throw notFound('token_not_found', `no join token ${req.params.id}`);
    res.json({ revoked: req.params.id });
  });
  return router;
}
