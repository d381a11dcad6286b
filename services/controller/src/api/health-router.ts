import type { Blobstore, Bus, Etcd3 } from '@nap/common';
import { Router } from 'express';
import { ETCD_FULL } from './errors.js';

async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** etcd's raised alarms (Nospace, Corrupt): a read that also says etcd answers. */
async function etcdAlarms(etcd: Etcd3): Promise<string[]> {
  const { alarms } = await etcd.maintenance.alarm({ action: 'Get', memberID: '0', alarm: 'None' });
  return [...new Set(alarms.map((a) => String(a.alarm)))];
}

/** GET /healthz: 200 when etcd, NATS and the blobstore (JetStream) answer, else 503 naming what is down. */
export function healthRouter(etcd: Etcd3, bus: Bus, blobs: Blobstore): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    const down: Record<string, string> = {};
    await Promise.all([
      within(2000, etcdAlarms(etcd))
        .then((alarms) => {
          if (alarms.length) down.etcd = `alarm ${alarms.join(', ')}: ${alarms.includes('Nospace') ? ETCD_FULL : 'see etcd\'s log'}`;
        })
        .catch((e: Error) => (down.etcd = e.message)),
      within(2000, bus.flush()).catch((e: Error) => (down.nats = e.message)),
      // JetStream can be away while NATS answers (a cluster that has not elected its leaders yet).
      within(2000, blobs.stat('healthz')).catch((e: Error) => (down.blobstore = e.message)),
    ]);
    if (Object.keys(down).length === 0) res.json({ status: 'ok' });
    else res.status(503).json({ status: 'unavailable', down });
  });
  return router;
}
