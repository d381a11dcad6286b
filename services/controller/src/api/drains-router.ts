import { badRequest, type Etcd3, keys, MAX_DRAINS_PER_APP, notFound, parseDrainUrl, publicAddressesOf } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import type { AppLifecycle } from '../apps/lifecycle.js';
import { appName } from './app-lookup.js';

export const DrainBody = z.object({ url: z.string().min(1).max(2048) }).strict();

const DrainRecords = z.array(z.object({ url: z.string(), admin: z.boolean(), added_by: z.string(), added_at: z.string() }));
type DrainRecord = z.infer<typeof DrainRecords>[number];

/**
 * Log drains (issue 16; Heroku's drains:add, Cloud Foundry's syslog drains): every line of the
 * app's instances and tasks goes to each, from the DEA that runs them. A developer's drain must
 * name a host whose every address is public (the DEA checks again at each connect); an admin's may
 * go anywhere (a collector on the platform's own network).
 */
export function drainsRouter(deps: { lifecycle: AppLifecycle; etcd: Etcd3 }): Router {
  const { lifecycle, etcd } = deps;
  const router = Router();
  const json = express.json({ limit: '8kb' });

  const read = async (appId: string): Promise<DrainRecord[]> => {
    const raw = await etcd.get(keys.drains(appId)).string();
    if (raw === null) return [];
    const parsed = DrainRecords.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : [];
  };
  const present = (d: DrainRecord) => ({ url: d.url, added_by: d.added_by, added_at: d.added_at });

  router.get('/v1/apps/:name/drains', async (req, res) => {
    const app = await lifecycle.load(appName(req), req.caller);
    res.json((await read(app.id)).map(present));
  });

  router.post('/v1/apps/:name/drains', json, async (req, res) => {
    const { url } = DrainBody.parse(req.body ?? {});
    const app = await lifecycle.load(appName(req), req.caller);
    let target;
    try {
      target = parseDrainUrl(url);
    } catch (err) {
      throw badRequest('invalid_drain', (err as Error).message);
    }
    const admin = req.caller?.role !== 'developer';
    if (!admin) {
      await publicAddressesOf(target.host).catch((err: Error) => {
        throw badRequest('drain_address_refused', `${err.message}; an admin may add a drain to a private address`);
      });
    }
    const drains = await read(app.id);
    if (drains.some((d) => d.url === target.url)) return void res.status(200).json(drains.map(present));
    if (drains.length >= MAX_DRAINS_PER_APP) throw badRequest('too_many_drains', `${app.name} has ${MAX_DRAINS_PER_APP} drains already: remove one first (nap remove-drain)`);
    const next = [...drains, { url: target.url, admin, added_by: req.caller?.name ?? 'admin', added_at: new Date().toISOString() }];
    await etcd.put(keys.drains(app.id)).value(JSON.stringify(next));
    res.status(201).json(next.map(present));
  });

  router.delete('/v1/apps/:name/drains', async (req, res) => {
    const app = await lifecycle.load(appName(req), req.caller);
    const url = String(req.query.url ?? '');
    const drains = await read(app.id);
    const normalized = (() => {
      try {
        return parseDrainUrl(url).url;
      } catch {
        return url;
      }
    })();
    const next = drains.filter((d) => d.url !== normalized);
    if (next.length === drains.length) throw notFound('drain_not_found', `${app.name} has no drain ${url.slice(0, 200)}: see nap drains ${app.name}`);
    if (next.length === 0) await etcd.delete().key(keys.drains(app.id));
    else await etcd.put(keys.drains(app.id)).value(JSON.stringify(next));
    res.json(next.map(present));
  });

  return router;
}
