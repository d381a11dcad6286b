import { z } from 'zod';
import { ADDRESS_LIST, ETCD_INITIAL_CLUSTER, IPV4, NODE_ROLES, type Settings } from './settings.js';

// The records and messages of a nap made of several nodes (docs/contract.md §2.11): shared by the
// controller, which keeps and checks them, and the CLI's `nap up`, `nap join` and `nap nodes`.

const Role = z.enum(NODE_ROLES);
const Ipv4 = z.string().regex(IPV4, 'expected an IPv4 address');
export const NODE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A node is named after its address: one address is one node, and a host that joins again is the same node. */
export const nodeIdOf = (address: string) => `n-${address.replaceAll('.', '-')}`;

/**
 * The engines' URLs of the node at `address`: every node runs them on the ports (and the scheme,
 * https once the cluster speaks TLS) of this node's own URLs; an etcd peer's port is the next one.
 */
export function engineUrlsOf(settings: Pick<Settings, 'etcdUrls' | 'natsUrls'>) {
  const etcd = new URL(settings.etcdUrls[0]);
  const natsPort = new URL(settings.natsUrls[0].replace(/^nats:/, 'http:')).port;
  return {
    etcd: (address: string) => `${etcd.protocol}//${address}:${etcd.port}`,
    etcdPeer: (address: string) => `${etcd.protocol}//${address}:${Number(etcd.port) + 1}`,
    nats: (address: string) => `nats://${address}:${natsPort}`,
  };
}

export const NodeRecord = z.object({
  id: z.string().regex(NODE_ID),
  address: Ipv4,
  roles: z.array(Role).min(1),
  joined_at: z.string(),
  /** The join token it came with; none for the first node. */
  token_id: z.string().optional(),
});
export type NodeRecord = z.infer<typeof NodeRecord>;

/** A join token is `<id>.<secret>`: the id names it (to list and revoke it), the secret is kept only as its SHA-256. */
export const JOIN_TOKEN = /^([a-f0-9]{8})\.([a-f0-9]{48})$/;

export const JoinTokenRecord = z.object({
  id: z.string().regex(/^[a-f0-9]{8}$/),
  digest: z.string().regex(/^[a-f0-9]{64}$/),
  /** The roles a node that joins with it may take. */
  roles: z.array(Role).min(1),
  created_at: z.string(),
  created_by: z.string(),
  expires_at: z.string(),
});
export type JoinTokenRecord = z.infer<typeof JoinTokenRecord>;

const Secret = z.string().regex(/^[0-9a-f]{64}$/);
const PerClient = z.object({ controller: Secret, dea: Secret, router: Secret });

/** What a joining node is handed; each program of it gets only its own part, as on the first node. */
export const ClusterSecrets = z.object({
  etcd: PerClient,
  nats: PerClient,
  /** An engines node runs an etcd member (which holds every key anyway) and adds members: it is trusted with root. */
  etcd_root: Secret,
  nats_route: Secret,
  /** The cluster's CA (made by `nap up --advertise`): controllers sign joining nodes' certificates with it. */
  tls_ca_cert: z.string().max(8192).optional(),
  tls_ca_key: z.string().max(8192).optional(),
  directory_secret: z.string().min(16),
  admin_token: z.string().min(16),
  /** Seals certificates' keys in etcd (NAP_CERT_KEY): controllers seal, routers open. */
  cert_key: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});
export type ClusterSecrets = z.infer<typeof ClusterSecrets>;

export const JoinRequest = z
  .object({
    token: z.string().regex(JOIN_TOKEN, 'expected a join token ID.SECRET, as `nap nodes token create` prints it'),
    address: Ipv4,
    roles: z
      .array(Role)
      .min(1)
      .max(NODE_ROLES.length)
      .refine((roles) => new Set(roles).size === roles.length, 'each role once'),
    /** The node's certificate request (PEM); an engines node's join needs it once the cluster speaks TLS between hosts. */
    csr: z.string().max(8192).optional(),
  })
  .strict();
export type JoinRequest = z.infer<typeof JoinRequest>;

/**
 * The settings a joined node takes from the cluster, written to its node.yaml: these and no other
 * (a join answer cannot move the node's home, its Docker socket or its stack image).
 */
export const JoinSettings = z
  .object({
    NAP_NODE_ADDRESS: Ipv4,
    NAP_NODE_ROLES: z.string().max(100),
    NAP_NATS_URL: z.string().regex(/^nats:\/\/[^\s]+$/).max(2000),
    NAP_ETCD_URLS: z.string().regex(/^https?:\/\/[^\s]+$/).max(2000),
    NAP_CONTROLLER_URL: z.string().regex(/^https?:\/\/[^\s]+$/).max(500),
    NAP_DOMAIN: z.string().max(253),
    NAP_INSTALLATION_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    /** An engines node only: the etcd members it starts with (it was added as a learner), `name=peer-url,…`. */
    NAP_ETCD_INITIAL_CLUSTER: z.string().regex(ETCD_INITIAL_CLUSTER).max(4000).optional(),
    /** An engines node only: the other engines nodes' addresses, which its NATS server routes to. */
    NAP_NATS_PEERS: z.string().regex(ADDRESS_LIST).max(2000).optional(),
  })
  .strict();
export type JoinSettings = z.infer<typeof JoinSettings>;

/** What a join answers: the node's record, the cluster's settings, and the secrets of its roles. */
export const JoinAnswer = z.object({
  node: NodeRecord,
  settings: JoinSettings,
  /** Only what the node's roles need: the passwords of its own programs. */
  secrets: z.object({
    etcd: PerClient.partial().optional(),
    nats: PerClient.partial().optional(),
    directory_secret: z.string().min(16).optional(),
    admin_token: z.string().min(16).optional(),
    cert_key: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    etcd_root: Secret.optional(),
    nats_route: Secret.optional(),
  }),
  /** When the cluster speaks TLS: its CA, and the node's certificate (for its address only; an engines one for an engines node). */
  tls: z.object({ ca: z.string().max(8192), cert: z.string().max(8192) }).optional(),
});
export type JoinAnswer = z.infer<typeof JoinAnswer>;
