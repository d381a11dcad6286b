import { type Etcd3, keys, type Logger } from '@nap/common';
import type { Watcher } from 'etcd3';
import type { PendingStarts } from './pending-starts.js';
import type { DeaPool } from './dea-pool.js';

/**
 * A DEA's record in etcd lives under its lease: when the lease expires the DEA is dead, seconds
 * before its last advertisement would grow stale. Forgetting it then keeps placement and staging
 * off it, and lets the starts it will never make be made elsewhere.
 */
export async function watchDeaLiveness(etcd: Etcd3, pool: DeaPool, pending: PendingStarts, log: Logger): Promise<Watcher> {
  const watcher = await etcd.watch().prefix(keys.deas()).create();
  watcher.on('delete', (kv) => {
    const id = kv.key.toString().slice(keys.deas().length);
    log.warn({ dea_id: id }, 'DEA gone (its lease expired)');
    pool.forget(id);
    pending.forgetDea(id);
  });
  return watcher;
}
