import type { Bus, Etcd3 } from '@nap/common';
import { Router } from 'express';

async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** GET /healthz: 200 when etcd and NATS answer, else 503 naming what is down. */
export function healthRouter(etcd: Etcd3, bus: Bus): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    const down: Record<string, string> = {};
    await Promise.all([
      within(2000, etcd.get('/nap/healthz').string()).catch((e: Error) => (down.etcd = e.message)),
      within(2000, bus.flush()).catch((e: Error) => (down.nats = e.message)),
    ]);
    if (Object.keys(down).length === 0) res.json({ status: 'ok' });
    else res.status(503).json({ status: 'unavailable', down });
  });
  return router;
}
