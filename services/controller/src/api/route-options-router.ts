import { type Etcd3, keys, notFound, parseStored, RouteHost, RouteOptions } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import type { AppLifecycle } from '../apps/lifecycle.js';
import type { RoutesRepository } from '../store/routes-repository.js';
import { appName } from './app-lookup.js';

export const RouteOptionsBody = z.object({ https_only: z.boolean() }).strict();

/**
 * A route's options (issue 17): `https_only` makes the routers redirect plain HTTP to HTTPS and send
 * HSTS over HTTPS. Only the app that holds the route sets them, and they hold only while it does
 * (the routers check the holder), so an option cannot outlive its app's claim.
 */
export function routeOptionsRouter(deps: { lifecycle: AppLifecycle; routes: RoutesRepository; etcd: Etcd3 }): Router {
  const { lifecycle, routes, etcd } = deps;
  const router = Router();
  const json = express.json({ limit: '1kb' });

  const held = async (req: express.Request) => {
    const app = await lifecycle.load(appName(req), req.caller);
    const parsed = RouteHost.safeParse(req.params.host ?? '');
    const host = parsed.success ? parsed.data : String(req.params.host);
    if (!parsed.success || (await routes.owner(host)) !== app.id) throw notFound('route_not_mapped', `${app.name} does not hold the route ${host}: map it first (nap map-route ${app.name} ${host})`);
    return { app, host };
  };

  router.get('/v1/apps/:name/routes/:host/options', async (req, res) => {
    const { app, host } = await held(req);
    const raw = await etcd.get(keys.routeOption(host)).string();
    const options = parseStored(RouteOptions, raw);
    res.json({ host, https_only: Boolean(options && options.app_id === app.id && options.https_only) });
  });

  router.put('/v1/apps/:name/routes/:host/options', json, async (req, res) => {
    const body = RouteOptionsBody.parse(req.body ?? {});
    const { app, host } = await held(req);
    if (body.https_only) await etcd.put(keys.routeOption(host)).value(JSON.stringify({ app_id: app.id, https_only: true } satisfies RouteOptions));
    else await etcd.delete().key(keys.routeOption(host));
    res.json({ host, https_only: body.https_only });
  });

  return router;
}
