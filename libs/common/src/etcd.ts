import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry, TaskCancelledError, timeout, TimeoutStrategy, wrap } from 'cockatiel';
import { Etcd3, EtcdInvalidAuthTokenError, GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';
import { etcdSpaceExceeded } from './engine-errors.js';
import { WatchManager } from 'etcd3/lib/watch.js';
import { Host } from 'etcd3/lib/connection-pool.js';
import { readFileSync } from 'node:fs';
import { ETCD_ROOT_USER } from './engines/credentials.js';
import type { Settings } from './settings.js';

const STALE_TOKEN = /invalid auth token/;

interface WatchManagerInternals {
  client: { client: { authenticator?: { invalidateMetadata(): void } } };
  expectedClosers: Set<unknown>;
  handleError(err: Error): void;
  handleCancelResponse(watcher: unknown, res: { cancel_reason?: string }): void;
  napLogsInAgain?: boolean;
}

/**
 * etcd forgets its simple auth tokens when it restarts (and after --auth-token-ttl of idleness).
 * etcd3 logs in again for a unary call that meets a stale token, but not for watches: the stream
 * it re-makes after a restart carries the old token, etcd cancels every watch on it with "invalid
 * auth token", and etcd3 drops those watchers for good (emitting 'error', which throws where no
 * one listens). Here such a cancel drops the cached token and re-makes the stream instead, which
 * logs in again and re-attaches every watcher from the revision after its last event, so no change
 * is missed. Elections watch through the same manager. Tested by restarting etcd under a
 * controller's watch (libs/testkit/test/engines-auth.integration.test.ts).
 */
function logInAgainForWatches(): void {
  const proto = WatchManager.prototype as unknown as WatchManagerInternals;
  if (proto.napLogsInAgain) return;
  const cancel = proto.handleCancelResponse;
  proto.handleCancelResponse = function (this: WatchManagerInternals, watcher, res) {
    if (STALE_TOKEN.test(res.cancel_reason ?? '') && !this.expectedClosers.has(watcher)) {
      this.client.client.authenticator?.invalidateMetadata();
      // Re-made after the manager's back-off: a token that keeps going stale cannot spin.
      this.handleError(new EtcdInvalidAuthTokenError(res.cancel_reason));
      return;
    }
    cancel.call(this, watcher, res);
  };
  proto.napLogsInAgain = true;
}

/**
 * etcd3's own fault handling (cockatiel's policies), tightened so that nap is whole again within
 * a couple of seconds of etcd's return: by default a host's circuit stays open 5 s after three
 * failures and a broken watch stream waits up to 30 s before it is made again, so the health
 * manager and the router's claims could stay blind for half a minute after etcd was back.
 *
 * A half-open circuit lets one call through and makes every other call wait for it; after a
 * `kill -9` and restart of etcd that one call sometimes never came back (the deadline below did
 * not end it), and every call of the process waited behind it for good. The timeout inside the
 * breaker ends such a call and counts it as a failure; outside the breaker it becomes a deadline
 * error, which etcd3 takes as a reason to make the host's connection anew (the stuck channel
 * would otherwise hang the next call too).
 */
const CALL_DEADLINE_MS = 1_500;
/**
 * etcd3 counts "out of space" (its NOSPACE alarm) among the errors of a host that is away: each
 * refused write would be tried three times and open the circuit, and then the reads, which etcd
 * still serves, would fail too. It is etcd answering, not etcd away.
 */
const hostTrouble = (err: Error) => (isRecoverableError(err) && !etcdSpaceExceeded(err)) || err instanceof TaskCancelledError;

/** gRPC's words for a connection its pings found dead (or that broke): the member is away. */
const CONNECTION_DROPPED = /Connection dropped/;

const ENGINE_RETURN = {
  global: retry(handleWhen(hostTrouble), { maxAttempts: 3 }),
  host: () => {
    const policy = wrap(
      circuitBreaker(handleWhen(hostTrouble), { halfOpenAfter: 250, breaker: new ConsecutiveBreaker(3) }),
      timeout(CALL_DEADLINE_MS + 500, TimeoutStrategy.Aggressive),
    );
    return {
      ...policy,
      execute: <T>(fn: () => Promise<T> | T) =>
        policy.execute(fn).catch((err: unknown) => {
          throw err instanceof TaskCancelledError ? new GRPCDeadlineExceededError(`etcd did not answer within ${CALL_DEADLINE_MS + 500} ms`) : err;
        }),
    };
  },
  watchBackoff: new ExponentialBackoff({ initialDelay: 250, maxDelay: 2_000 }),
} as unknown as NonNullable<ConstructorParameters<typeof Etcd3>[0]>['faultHandling'];

/**
 * A member whose host died (or was cut off) sends no reset: a lease's keep-alive stream or a watch
 * on it stays open and silent, and a 3 s lease is lost before etcd3 notices (a controller lost its
 * health manager campaign that way, 5 s after a host loss). gRPC's pings (every second, each
 * answered within 500 ms) find such a connection dead within 1.5 s, and the stream is made again
 * on a member that answers (see followEtcdMembers for how it avoids the silent one): a lease's last
 * keep-alive may be 1 s old (ttl / 3) then, which leaves a 3 s lease half a second. etcd takes
 * pings this often because nap starts it with `--grpc-keepalive-min-time 500ms` (etcdArgs); an
 * etcd started by an older nap (1s) takes them too.
 */
const DEAD_MEMBER_PINGS = { 'grpc.keepalive_time_ms': 1_000, 'grpc.keepalive_timeout_ms': 500 };

/**
 * Without a deadline a call that meets etcd as it goes away or comes back can wait for ever: after
 * a `kill -9` of etcd a controller's API once hung on every request until it was restarted.
 */
function unaryDeadline(context: { isStream: boolean }): { deadline?: Date } {
  return context.isStream ? {} : { deadline: new Date(Date.now() + CALL_DEADLINE_MS) };
}

/**
 * One client per process; the repositories on top of it decide the keys (see keys.ts). With a
 * user set (each service has its own, limited to the keys it needs), the client logs in, and logs
 * in again whenever etcd no longer knows its token.
 */
export function connectEtcd(settings: Settings): Etcd3 {
  const auth = settings.etcdUser && settings.etcdPassword ? { username: settings.etcdUser, password: settings.etcdPassword, callOptions: unaryDeadline } : undefined;
  if (auth) logInAgainForWatches();
  const client = new Etcd3({ hosts: settings.etcdUrls, dialTimeout: 3000, auth, credentials: tlsCredentials(settings.tls?.ca), grpcOptions: DEAD_MEMBER_PINGS, faultHandling: ENGINE_RETURN, defaultCallOptions: unaryDeadline });
  followEtcdMembers(client);
  return client;
}

/** A client as etcd's root (member changes need it), with the same fault handling as the platform's clients. */
export function connectEtcdAsRoot(urls: string[], password: string, caFile?: string): Etcd3 {
  return new Etcd3({ hosts: urls, dialTimeout: 3000, auth: { username: ETCD_ROOT_USER, password, callOptions: unaryDeadline }, credentials: tlsCredentials(caFile), grpcOptions: DEAD_MEMBER_PINGS, faultHandling: ENGINE_RETURN, defaultCallOptions: unaryDeadline });
}

/** etcd over TLS (https URLs): its certificate checked against the cluster's CA. */
export function tlsCredentials(caFile: string | undefined): { rootCertificate: Buffer } | undefined {
  return caFile ? { rootCertificate: readFileSync(caFile) } : undefined;
}

interface PooledHost {
  host: string;
  channelCredentials: unknown;
  channelOptions: unknown;
  close(): void;
}

interface PoolInternals {
  options: { hosts: string | string[]; grpcOptions?: unknown; faultHandling?: { host?: (h: string) => unknown } };
  hosts: PooledHost[];
  markFailed(host: PooledHost, error: Error): void;
}

/**
 * A stream (a lease's keep-alive, a watch) whose connection gRPC's pings dropped is made again
 * 100 ms later on a host etcd3 picks at random; a silent member's TCP still answers while its
 * HTTP/2 never does, so one time in three the new stream went back to it and hung until the 3 s
 * lease was lost. With other members to go to, such a drop opens that member's circuit at once
 * (three failures, as the breaker counts them), so the stream goes elsewhere. With one member
 * there is nowhere else: one failure counts as one, as before.
 */
function leaveDroppedMembers(pool: PoolInternals): void {
  const markFailed = pool.markFailed.bind(pool);
  pool.markFailed = (host, error) => {
    const times = pool.hosts.length > 1 && CONNECTION_DROPPED.test(String(error?.message)) ? 3 : 1;
    for (let i = 0; i < times; i++) markFailed(host, error);
  };
}

const MEMBERS_EVERY_MS = 10_000;

/**
 * etcd3 talks, for ever, to the hosts it was made with. In a cluster, members are added as engines
 * nodes join (and removed as they leave): a process that knew only the first node's etcd would
 * lose etcd with that one node. So the client asks etcd for its members every few seconds and
 * takes in the client URLs of the voting ones (a learner serves no reads), and drops hosts that
 * are no longer members. etcd3 has no API for this: its pool's hosts are changed in place, the
 * new ones made as etcd3 makes its own (same credentials, channel options and fault handling).
 * Tested with a three-member etcd (libs/testkit/test/etcd-cluster.integration.test.ts).
 */
export function followEtcdMembers(client: Etcd3): void {
  const pool = (client as unknown as { pool: PoolInternals }).pool;
  leaveDroppedMembers(pool);
  const strip = (url: string) => url.replace(/^[a-z]+:\/\//, '');
  let timer: NodeJS.Timeout | null = null;
  const look = async () => {
    try {
      const { members } = await client.cluster.memberList({});
      const urls = members.filter((m) => !m.isLearner).flatMap((m) => m.clientURLs);
      if (urls.length === 0) return;
      const template = pool.hosts[0];
      if (!template) return;
      for (const url of urls) {
        if (pool.hosts.some((h) => h.host === strip(url))) continue;
        pool.hosts.push(new Host(url, template.channelCredentials as never, template.channelOptions as never, pool.options.faultHandling?.host?.(url) as never) as unknown as PooledHost);
      }
      const wanted = new Set(urls.map(strip));
      for (const gone of pool.hosts.filter((h) => !wanted.has(h.host))) {
        pool.hosts.splice(pool.hosts.indexOf(gone), 1);
        gone.close();
      }
      // The authenticator logs in through the URLs of the options.
      pool.options.hosts = pool.hosts.map((h) => `${urls[0].startsWith('https:') ? 'https' : 'http'}://${h.host}`);
    } catch {
      // etcd away, or a member list this user may not read: the hosts stay as they are.
    } finally {
      if (timer !== null) timer = setTimeout(look, MEMBERS_EVERY_MS).unref();
    }
  };
  timer = setTimeout(look, 0).unref();
  const close = client.close.bind(client);
  client.close = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    close();
  };
}

export { Etcd3 };
