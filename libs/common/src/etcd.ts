import { Etcd3, EtcdInvalidAuthTokenError } from 'etcd3';
import { WatchManager } from 'etcd3/lib/watch.js';
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
 * One client per process; the repositories on top of it decide the keys (see keys.ts). With a
 * user set (each service has its own, limited to the keys it needs), the client logs in, and logs
 * in again whenever etcd no longer knows its token.
 */
export function connectEtcd(settings: Settings): Etcd3 {
  const auth = settings.etcdUser && settings.etcdPassword ? { username: settings.etcdUser, password: settings.etcdPassword } : undefined;
  if (auth) logInAgainForWatches();
  return new Etcd3({ hosts: settings.etcdUrls, dialTimeout: 3000, auth });
}

export { Etcd3 };
