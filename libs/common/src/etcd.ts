import { Etcd3 } from 'etcd3';
import type { Settings } from './settings.js';

/** One client per process; the repositories on top of it decide the keys (see keys.ts). */
export function connectEtcd(settings: Settings): Etcd3 {
  return new Etcd3({ hosts: settings.etcdUrls, dialTimeout: 3000 });
}

export { Etcd3 };
