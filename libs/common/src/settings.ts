import { readFileSync } from 'node:fs';
import { availableParallelism, homedir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseCidr } from './container-network.js';

/**
 * Every setting of CONTRACT §1 (plus a few internal ones), read once at start-up.
 * Values come from NAP_CONFIG (a YAML file with the same keys) and then the environment,
 * which wins. Nothing deeper in a service reads process.env.
 */
/** Node.js and npm as DEAs verified them: one folder for the machine, since every copy is the registry's own bytes. */
export const DEFAULT_RUNTIMES_DIR = '/var/cache/nap/runtimes';

export interface Settings {
  home: string;
  /** This node's address: every part binds and advertises it (127.0.0.1 for a nap alone on one machine). */
  nodeAddress: string;
  /** What runs on this node (a node that joined may run only some). */
  nodeRoles: NodeRole[];
  natsUrls: string[];
  natsUser?: string;
  natsPassword?: string;
  etcdUrls: string[];
  /**
   * Traffic between hosts is TLS: the cluster's CA (every client checks the engines against it)
   * and, on a node, its own certificate and key (its engines serve with them).
   */
  tls?: { ca: string; cert?: string; key?: string };
  /** Set on an engines node that joined: the etcd members it started with (it was added to them as a learner). */
  etcdInitialCluster?: string;
  /** The port NATS servers of one cluster route to each other on. */
  natsClusterPort: number;
  /** The other engines nodes' addresses, which this node's NATS server routes to: none, and it runs alone. */
  natsPeers: string[];
  /** This program's own etcd user (nap up gives each service one, limited to the keys it needs). */
  etcdUser?: string;
  etcdPassword?: string;
  domain: string;
  controllerPort: number;
  controllerUrl: string;
  routerPort: number;
  routerStatusPort: number;
  routerUrl: string;
  /** The whole of one request to an app, from routing to the last byte (then 504, or the response is cut). */
  routerRequestTimeoutS: number;
  /** How long a client's keep-alive connection may sit idle between requests. */
  routerIdleTimeoutS: number;
  /** How long a connection to an instance may take before another instance is tried: a host that stopped answering costs this, not the kernel's two minutes. */
  routerConnectTimeoutMs: number;
  /** Requests in flight to one app instance; past it another instance is tried, else 503. */
  routerMaxConnsPerInstance: number;
  /** Requests in flight in the whole router; past it requests are refused at once with 503. */
  routerMaxInFlight: number;
  routerStatusUser: string;
  /** Without it, /routes on the status port refuses everyone. */
  routerStatusPassword?: string;
  /** Proxy processes, one per core by default; 1 runs no cluster at all. */
  routerWorkers: number;
  /** Where the router terminates TLS (issue 17), choosing the certificate by SNI. */
  routerTlsPort: number;
  /**
   * Seals the private keys of certificates in etcd (AES-256-GCM): the controller seals them, the
   * routers open them. Without it the controller takes no certificate and a router serves no TLS.
   */
  certKey?: string;
  /** An operator's own default certificate and key (PEM files) for the shared domain, instead of the self-signed one. */
  tlsDefaultCert?: string;
  tlsDefaultKey?: string;
  /**
   * ACME (NAP_ACME_*): where nap gets certificates for the routes on private domains by itself,
   * answering HTTP-01 at the routers; `caFile` to trust the directory's own TLS (a test server).
   */
  acme?: { directory: string; email?: string; caFile?: string; intervalS: number; renewDays: number };
  directoryPort: number;
  /** The DEA's /metrics and /healthz, on loopback: NAP_DEA_STATUS_PORT, else the directory port + 1. */
  deaStatusPort: number;
  directoryUrl: string;
  directorySecret?: string;
  adminToken?: string;
  deaId?: string;
  deaDir: string;
  deaHost: string;
  deaZone: string;
  deaMemoryMb: number;
  deaDiskMb: number;
  deaPortRange: [number, number];
  /** RUNNING instances are health-checked this often; three failures in a row and one is restarted. */
  deaHealthCheckIntervalS: number;
  /** Instances a DEA brings up at once (container start to first passed health check); more wait their turn as STARTING. */
  deaMaxStarting: number;
  dockerSocket: string;
  stackImage: string;
  buildpacksDir: string;
  /** Builds a stack variant image (nap/stack:bookworm-NAME) on a DEA that lacks it: `SCRIPT NAME`, as root. */
  stackVariantScript: string;
  /** Labels every container this installation makes, so a test run or a second nap on the same engine removes only its own. */
  installationId: string;
  /** The IPv4 subnet of nap's bridge network on a DEA (CIDR); must not overlap the host's routes. */
  containerSubnet: string;
  uploadLimitMb: number;
  /** Droplets of this many latest releases are kept for rollback; older ones leave the blobstore. */
  releasesKept: number;
  /** Each instance log file is rotated at this size (one rotated file is kept). */
  instanceLogMaxMb: number;
  stagingTimeoutS: number;
  /** A build cache bigger than this (once unpacked) is not kept in the blobstore. */
  buildCacheMaxMb: number;
  /** Runtime packages (Node.js, npm) a DEA verified against the registry: shared by every nap on the machine. */
  runtimesDir: string;
  logLevel: string;
  /** Limits and quotas (issue 11): kept free on a DEA's disks for etcd, JetStream and the DEA itself. */
  deaDiskReserveMb: number;
  /** A Dockerfile build longer than this is stopped (shorter than stagingTimeoutS: a build holds root's RUN). */
  dockerfileBuildTimeoutS: number;
  /** Processes and threads a Dockerfile build may have at once (its RUN steps' cgroup pids.max). */
  dockerfileBuildPidsMax: number;
  /** CPU weight of a Dockerfile build's RUN steps (CpuShares). */
  dockerfileBuildCpuShares: number;
  /** A developer without a quota of their own gets this one. */
  defaultQuota: { apps: number; instances: number; memory_mb: number };
}

export const NODE_ROLES = ['engines', 'controller', 'router', 'dea'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

/** This node's own settings, written by `nap up --advertise` and `nap join`, read under NAP_CONFIG and the environment. */
export const nodeSettingsFile = (home: string) => join(home, 'node.yaml');

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n  ${problems.join('\n  ')}`);
    this.name = 'SettingsError';
  }
}

const repoRoot = new URL('../../../../', import.meta.url).pathname;

const urlList = (scheme: RegExp) =>
  z
    .string()
    .transform((s) => s.split(',').map((u) => u.trim()).filter(Boolean))
    .refine((urls) => urls.length > 0 && urls.every((u) => scheme.test(u)), {
      message: `expected a comma-separated list of URLs matching ${scheme}`,
    });

const port = z.coerce
  .number({ invalid_type_error: 'expected a port number' })
  .int('expected a whole port number')
  .min(1, 'expected a port number 1-65535')
  .max(65535, 'expected a port number 1-65535');

const positiveInt = z.coerce.number({ invalid_type_error: 'expected a number' }).int().positive();

const portRange = z
  .string()
  .regex(/^\d+-\d+$/, 'expected LOW-HIGH, e.g. 61000-64999')
  .transform((s) => s.split('-').map(Number) as [number, number])
  .refine(([lo, hi]) => lo >= 1024 && hi <= 65535 && lo <= hi, 'expected 1024 <= LOW <= HIGH <= 65535');

const optionalString = z.string().min(1).optional();

/** A dotted IPv4 address, each part 0-255. */
export const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const ipv4 = z.string().regex(IPV4, 'expected an IPv4 address such as 10.0.0.5');
const IPV4_PART = IPV4.source.slice(1, -1);
/** Addresses, comma-separated: `10.0.0.5,10.0.0.6`. */
export const ADDRESS_LIST = new RegExp(`^${IPV4_PART}(,${IPV4_PART})*$`);
/** etcd's `--initial-cluster`: `name=http://host:port,…`. */
export const ETCD_INITIAL_CLUSTER = /^[a-z0-9][a-z0-9-]{0,62}=https?:\/\/[^\s,=]+(,[a-z0-9][a-z0-9-]{0,62}=https?:\/\/[^\s,=]+)*$/;

/** `router,dea` → the roles, or null when it names none or one that is not a role. */
export function parseNodeRoles(text: string): NodeRole[] | null {
  const roles = [...new Set(text.split(',').map((r) => r.trim()).filter(Boolean))];
  return roles.length > 0 && roles.every((r) => (NODE_ROLES as readonly string[]).includes(r)) ? (roles as NodeRole[]) : null;
}

const roleList = z
  .string()
  .refine((s) => parseNodeRoles(s) !== null, `expected a comma-separated list of ${NODE_ROLES.join(', ')}`)
  .transform((s) => parseNodeRoles(s)!);

/**
 * What a DEA offers instances when NAP_DEA_MEMORY_MB is unset (issue 18): the machine's memory less
 * a reserve for the platform's own programs, the engines and the kernel (a gigabyte, or an eighth of
 * a big machine), never under 512 MB. A fixed 4,096 MB left most of a 24 GB machine unused.
 */
export function defaultDeaMemoryMb(machineMb = Math.floor(totalmem() / 1024 / 1024)): number {
  return Math.max(512, machineMb - Math.max(1024, Math.floor(machineMb / 8)));
}

function schemaFor(home: string, node: string, tlsOn: boolean) {
  return z.object({
    NAP_HOME: z.string().default(home),
    NAP_NODE_ADDRESS: ipv4.default('127.0.0.1'),
    NAP_NODE_ROLES: roleList.default(NODE_ROLES.join(',')),
    NAP_NATS_URL: urlList(/^nats:\/\/[^\s]+$/).default(`nats://${node}:4222`),
    NAP_NATS_USER: optionalString,
    NAP_NATS_PASSWORD: optionalString,
    NAP_NATS_CLUSTER_PORT: port.default(6222),
    NAP_NATS_PEERS: z
      .string()
      .regex(ADDRESS_LIST, 'expected IPv4 addresses, comma-separated')
      .transform((s) => s.split(','))
      .optional(),
    NAP_ETCD_URLS: urlList(/^https?:\/\/[^\s]+$/).default(`${tlsOn ? 'https' : 'http'}://${node}:2379`),
    NAP_TLS_CA: optionalString,
    NAP_TLS_CERT: optionalString,
    NAP_TLS_KEY: optionalString,
    NAP_ETCD_INITIAL_CLUSTER: z.string().regex(ETCD_INITIAL_CLUSTER, 'expected name=http://host:port,…').optional(),
    NAP_ETCD_USER: optionalString,
    NAP_ETCD_PASSWORD: optionalString,
    NAP_DOMAIN: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'expected a DNS domain such as nap.localhost')
      .default('nap.localhost'),
    NAP_CONTROLLER_PORT: port.default(9022),
    NAP_CONTROLLER_URL: optionalString,
    NAP_ROUTER_PORT: port.default(8080),
    NAP_ROUTER_STATUS_PORT: port.default(8082),
    NAP_ROUTER_URL: optionalString,
    NAP_ROUTER_REQUEST_TIMEOUT_S: positiveInt.default(900),
    NAP_ROUTER_IDLE_TIMEOUT_S: positiveInt.default(60),
    NAP_ROUTER_CONNECT_TIMEOUT_MS: positiveInt.min(50).max(60_000).default(1000),
    NAP_ROUTER_MAX_CONNS_PER_INSTANCE: positiveInt.default(500),
    NAP_ROUTER_MAX_IN_FLIGHT: positiveInt.default(10_000),
    NAP_ROUTER_STATUS_USER: z.string().min(1).default('router'),
    NAP_ROUTER_STATUS_PASSWORD: optionalString,
    NAP_ROUTER_WORKERS: positiveInt.max(256).default(availableParallelism()),
    NAP_ROUTER_TLS_PORT: port.default(8443),
    NAP_CERT_KEY: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex digits (32 bytes)').optional(),
    NAP_TLS_DEFAULT_CERT: optionalString,
    NAP_TLS_DEFAULT_KEY: optionalString,
    NAP_ACME_DIRECTORY: z.string().regex(/^https?:\/\/\S+$/, 'expected the URL of an ACME directory').optional(),
    NAP_ACME_EMAIL: optionalString,
    NAP_ACME_CA: optionalString,
    NAP_ACME_INTERVAL_S: positiveInt.default(60),
    NAP_ACME_RENEW_DAYS: positiveInt.default(30),
    NAP_DIRECTORY_PORT: port.default(9024),
    NAP_DEA_STATUS_PORT: port.optional(),
    NAP_DIRECTORY_URL: optionalString,
    NAP_DIRECTORY_SECRET: z.string().min(16, 'expected at least 16 characters').optional(),
    NAP_ADMIN_TOKEN: z.string().min(16, 'expected at least 16 characters').optional(),
    NAP_DEA_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, - or _').optional(),
    NAP_DEA_DIR: optionalString,
    NAP_DEA_HOST: z.string().min(1).default(node),
    NAP_DEA_ZONE: z.string().min(1).default('default'),
    NAP_DEA_MEMORY_MB: positiveInt.default(defaultDeaMemoryMb()),
    NAP_DEA_DISK_MB: positiveInt.default(16384),
    NAP_DEA_PORT_RANGE: portRange.default('61000-64999'),
    NAP_DEA_HEALTH_CHECK_INTERVAL_S: positiveInt.max(300).default(5),
    NAP_DEA_MAX_STARTING: positiveInt.max(1000).default(16),
    NAP_DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
    NAP_STACK_IMAGE: z.string().min(1).default('nap/stack:bookworm'),
    NAP_BUILDPACKS_DIR: z.string().min(1).default(join(repoRoot, 'buildpacks')),
    NAP_STACK_VARIANT_SCRIPT: z.string().min(1).default(join(repoRoot, 'deploy', 'stack-variant')),
    NAP_INSTALLATION_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('nap'),
    NAP_CONTAINER_SUBNET: z
      .string()
      .refine((v) => {
        const c = parseCidr(v);
        return c !== null && c.prefix >= 8 && c.prefix <= 28;
      }, 'expected an IPv4 network in CIDR form, /8 to /28, e.g. 10.213.0.0/20')
      .default('10.213.0.0/20'),
    NAP_UPLOAD_LIMIT_MB: positiveInt.default(1024),
    NAP_RELEASES_KEPT: positiveInt.default(10),
    NAP_INSTANCE_LOG_MAX_MB: positiveInt.default(10),
    NAP_STAGING_TIMEOUT_S: positiveInt.default(900),
    NAP_BUILD_CACHE_MAX_MB: positiveInt.default(512),
    NAP_RUNTIMES_DIR: z.string().min(1).default(DEFAULT_RUNTIMES_DIR),
    NAP_DEA_DISK_RESERVE_MB: positiveInt.default(4096),
    NAP_DOCKERFILE_BUILD_TIMEOUT_S: positiveInt.default(300),
    NAP_DOCKERFILE_BUILD_PIDS_MAX: positiveInt.min(16).default(1024),
    NAP_DOCKERFILE_BUILD_CPU_SHARES: positiveInt.min(2).max(262144).default(256),
    NAP_QUOTA_APPS: z.coerce.number().int().min(0).default(20),
    NAP_QUOTA_INSTANCES: z.coerce.number().int().min(0).default(40),
    NAP_QUOTA_MEMORY_MB: z.coerce.number().int().min(0).default(16384),
    NAP_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  });
}

function readConfigFile(path: string, what = 'NAP_CONFIG', optional = false): Record<string, string> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new SettingsError([`${what}: cannot read ${path}: ${(err as Error).message}`]);
  }
  if (doc == null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new SettingsError([`${what}: ${path} must be a mapping of NAP_* keys`]);
  return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, String(v)]));
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const fromFile = env.NAP_CONFIG ? readConfigFile(env.NAP_CONFIG) : {};
  const fromEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('NAP_') && v !== undefined && v !== '') fromEnv[k] = v;
  const home = fromEnv.NAP_HOME ?? fromFile.NAP_HOME ?? join(homedir(), '.nap');
  // The node's file lives in NAP_HOME: it cannot move it.
  const { NAP_HOME: _, ...fromNode } = readConfigFile(nodeSettingsFile(home), 'the node settings', true);
  const raw: Record<string, string | undefined> = { ...fromNode, ...fromFile, ...fromEnv };
  const node = ipv4.safeParse(raw.NAP_NODE_ADDRESS).success ? raw.NAP_NODE_ADDRESS! : '127.0.0.1';
  const parsed = schemaFor(home, node, Boolean(raw.NAP_TLS_CA)).safeParse(raw);
  if (!parsed.success) {
    throw new SettingsError(
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message} (got ${JSON.stringify(raw[String(i.path[0])])})`),
    );
  }
  const s = parsed.data;
  // A node with a certificate serves its API and directory server over TLS (other hosts reach them).
  const served = s.NAP_TLS_CERT && s.NAP_TLS_KEY ? 'https' : 'http';
  return {
    home: s.NAP_HOME,
    nodeAddress: s.NAP_NODE_ADDRESS,
    nodeRoles: s.NAP_NODE_ROLES,
    natsUrls: s.NAP_NATS_URL,
    natsUser: s.NAP_NATS_USER,
    natsPassword: s.NAP_NATS_PASSWORD,
    etcdUrls: s.NAP_ETCD_URLS,
    etcdInitialCluster: s.NAP_ETCD_INITIAL_CLUSTER,
    tls: s.NAP_TLS_CA ? { ca: s.NAP_TLS_CA, cert: s.NAP_TLS_CERT, key: s.NAP_TLS_KEY } : undefined,
    natsClusterPort: s.NAP_NATS_CLUSTER_PORT,
    natsPeers: s.NAP_NATS_PEERS ?? [],
    etcdUser: s.NAP_ETCD_USER,
    etcdPassword: s.NAP_ETCD_PASSWORD,
    domain: s.NAP_DOMAIN,
    controllerPort: s.NAP_CONTROLLER_PORT,
    controllerUrl: s.NAP_CONTROLLER_URL ?? `${served}://${node}:${s.NAP_CONTROLLER_PORT}`,
    routerPort: s.NAP_ROUTER_PORT,
    routerStatusPort: s.NAP_ROUTER_STATUS_PORT,
    routerUrl: s.NAP_ROUTER_URL ?? `http://${node}:${s.NAP_ROUTER_PORT}`,
    routerRequestTimeoutS: s.NAP_ROUTER_REQUEST_TIMEOUT_S,
    routerIdleTimeoutS: s.NAP_ROUTER_IDLE_TIMEOUT_S,
    routerConnectTimeoutMs: s.NAP_ROUTER_CONNECT_TIMEOUT_MS,
    routerMaxConnsPerInstance: s.NAP_ROUTER_MAX_CONNS_PER_INSTANCE,
    routerMaxInFlight: s.NAP_ROUTER_MAX_IN_FLIGHT,
    routerStatusUser: s.NAP_ROUTER_STATUS_USER,
    routerStatusPassword: s.NAP_ROUTER_STATUS_PASSWORD,
    routerWorkers: s.NAP_ROUTER_WORKERS,
    routerTlsPort: s.NAP_ROUTER_TLS_PORT,
    certKey: s.NAP_CERT_KEY,
    tlsDefaultCert: s.NAP_TLS_DEFAULT_CERT,
    tlsDefaultKey: s.NAP_TLS_DEFAULT_KEY,
    acme: s.NAP_ACME_DIRECTORY ? { directory: s.NAP_ACME_DIRECTORY, email: s.NAP_ACME_EMAIL, caFile: s.NAP_ACME_CA, intervalS: s.NAP_ACME_INTERVAL_S, renewDays: s.NAP_ACME_RENEW_DAYS } : undefined,
    directoryPort: s.NAP_DIRECTORY_PORT,
    deaStatusPort: s.NAP_DEA_STATUS_PORT ?? Math.min(65535, s.NAP_DIRECTORY_PORT + 1),
    directoryUrl: s.NAP_DIRECTORY_URL ?? `${served}://${s.NAP_DEA_HOST}:${s.NAP_DIRECTORY_PORT}`,
    directorySecret: s.NAP_DIRECTORY_SECRET,
    adminToken: s.NAP_ADMIN_TOKEN,
    deaId: s.NAP_DEA_ID,
    deaDir: s.NAP_DEA_DIR ?? join(s.NAP_HOME, 'dea'),
    deaHost: s.NAP_DEA_HOST,
    deaZone: s.NAP_DEA_ZONE,
    deaMemoryMb: s.NAP_DEA_MEMORY_MB,
    deaDiskMb: s.NAP_DEA_DISK_MB,
    deaPortRange: s.NAP_DEA_PORT_RANGE,
    deaHealthCheckIntervalS: s.NAP_DEA_HEALTH_CHECK_INTERVAL_S,
    deaMaxStarting: s.NAP_DEA_MAX_STARTING,
    dockerSocket: s.NAP_DOCKER_SOCKET,
    stackImage: s.NAP_STACK_IMAGE,
    buildpacksDir: s.NAP_BUILDPACKS_DIR,
    stackVariantScript: s.NAP_STACK_VARIANT_SCRIPT,
    installationId: s.NAP_INSTALLATION_ID,
    containerSubnet: s.NAP_CONTAINER_SUBNET,
    uploadLimitMb: s.NAP_UPLOAD_LIMIT_MB,
    releasesKept: s.NAP_RELEASES_KEPT,
    instanceLogMaxMb: s.NAP_INSTANCE_LOG_MAX_MB,
    stagingTimeoutS: s.NAP_STAGING_TIMEOUT_S,
    buildCacheMaxMb: s.NAP_BUILD_CACHE_MAX_MB,
    runtimesDir: s.NAP_RUNTIMES_DIR,
    logLevel: s.NAP_LOG_LEVEL,
    deaDiskReserveMb: s.NAP_DEA_DISK_RESERVE_MB,
    dockerfileBuildTimeoutS: s.NAP_DOCKERFILE_BUILD_TIMEOUT_S,
    dockerfileBuildPidsMax: s.NAP_DOCKERFILE_BUILD_PIDS_MAX,
    dockerfileBuildCpuShares: s.NAP_DOCKERFILE_BUILD_CPU_SHARES,
    defaultQuota: { apps: s.NAP_QUOTA_APPS, instances: s.NAP_QUOTA_INSTANCES, memory_mb: s.NAP_QUOTA_MEMORY_MB },
  };
}

/** For secrets a given service cannot run without: fail at start-up with what to do. */
export function requireSetting<K extends keyof Settings>(settings: Settings, key: K, variable: string): NonNullable<Settings[K]> {
  const value = settings[key];
  if (value === undefined || value === null) {
    throw new SettingsError([`${variable} is not set (nap up generates it into NAP_HOME; set it for a service started by hand)`]);
  }
  return value as NonNullable<Settings[K]>;
}
