import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { badRequest, type ClusterSecrets, conflict, JOIN_TOKEN, type JoinAnswer, JoinRequest, type JoinSettings, type JoinTokenRecord, NapError, nodeIdOf, type NodeRecord, notFound, type NodeRole, type Settings, unauthorized } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import { requireAdmin } from '../auth/bearer.js';
import type { DeaPool } from '../placement/dea-pool.js';
import type { NodesRepository } from '../store/nodes-repository.js';

/** Roles a joined node can take today: the engines stay on the first node until they are clusters. */
const JOINABLE = ['controller', 'router', 'dea'] as const satisfies readonly NodeRole[];
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
  return out;
}

/**
 * `POST /v1/nodes/join` (docs/contract.md §2.11): open, since a joining host has no API token; the
 * join token in the body is its credential, checked in constant time against its digest.
 */
export function nodesJoinRouter(nodes: NodesRepository, settings: Settings): Router {
  const router = Router();
  router.post('/v1/nodes/join', express.json({ limit: '4kb' }), async (req, res) => {
    const parsed = JoinRequest.safeParse(req.body);
    if (!parsed.success) throw badRequest('invalid_join', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    const { token, address, roles } = parsed.data;
    const [, id, secret] = JOIN_TOKEN.exec(token)!;
    const record = await nodes.token(id);
    const presented = Buffer.from(digestOf(secret), 'hex');
    if (!record || !timingSafeEqual(presented, Buffer.from(record.digest, 'hex'))) throw unauthorized('unknown or revoked join token: ask an admin for a new one (nap nodes token create)');
    if (Date.parse(record.expires_at) < Date.now()) throw unauthorized(`join token ${id} expired at ${record.expires_at}: ask an admin for a new one`);
    const refused = roles.filter((r) => !record.roles.includes(r) || !(JOINABLE as readonly NodeRole[]).includes(r));
    if (refused.length) {
      throw new NapError(422, 'role_refused', `this node cannot take ${refused.join(', ')}: the token allows ${record.roles.join(', ')}, and a joining node takes only ${JOINABLE.join(', ')} (the engines run on the first node)`);
    }
    const engineUrls = [...settings.natsUrls, ...settings.etcdUrls, settings.controllerUrl];
    if (engineUrls.some(isLoopback)) throw conflict('first_node_on_loopback', 'the first node listens on 127.0.0.1 only: run `nap up --advertise IP` on it (with an address the other hosts reach), then join');
    const all = await nodes.secrets();
    if (!all) throw new NapError(503, 'not_ready', 'the first node has not finished `nap up` (the cluster secrets are not published yet): try again in a few seconds');
    const node: NodeRecord = { id: nodeIdOf(address), address, roles, joined_at: new Date().toISOString(), token_id: id };
    // A host may join again (its record is replaced), but no join takes the first node's address.
    if (!(await nodes.putJoined(node))) throw conflict('address_taken', `${address} is the first node's address: a joining host advertises its own`);
    const shared: JoinSettings = {
      NAP_NODE_ADDRESS: address,
      NAP_NODE_ROLES: roles.join(','),
      NAP_NATS_URL: settings.natsUrls.join(','),
      NAP_ETCD_URLS: settings.etcdUrls.join(','),
      NAP_CONTROLLER_URL: settings.controllerUrl,
      NAP_DOMAIN: settings.domain,
      NAP_INSTALLATION_ID: settings.installationId,
    };
    res.status(201).json({ node, settings: shared, secrets: secretsFor(roles, all) });
  });
  return router;
}

/** Nodes and join tokens, for admins (docs/contract.md §2.11). */
export function nodesRouter(nodes: NodesRepository, pool: DeaPool): Router {
  const router = Router();
  router.get('/v1/nodes', async (req, res) => {
    requireAdmin(req, 'list nodes');
    const deas = pool.live();
    const list = (await nodes.list()).map((n) => {
      const dea = deas.find((d) => d.host === n.address);
      const instances = dea ? Object.values(dea.app_id_to_count).reduce((a, b) => a + b, 0) : 0;
      const health = !n.roles.includes('dea') ? 'unknown' : !dea ? 'dea not advertising' : dea.unavailable ? `dea unavailable: ${dea.unavailable}` : 'ok';
      return { ...n, health, dea: dea?.id ?? null, instances };
    });
    res.json(list.sort((a, b) => a.joined_at.localeCompare(b.joined_at)));
  });
  router.delete('/v1/nodes/:id', async (req, res) => {
    requireAdmin(req, 'remove nodes');
    if (!(await nodes.delete(String(req.params.id)))) throw notFound('node_not_found', `no node ${req.params.id}`);
    res.json({ removed: req.params.id });
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
