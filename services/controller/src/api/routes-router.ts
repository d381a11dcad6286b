import { forbidden } from '@nap/common';
import { Router } from 'express';
import type { AppsRepository } from '../store/apps-repository.js';
import type { RoutesRepository } from '../store/routes-repository.js';

/** GET /v1/routes (admin): every route and the app that holds it. */
export function routesRouter(routes: RoutesRepository, apps: AppsRepository): Router {
  const router = Router();
  router.get('/v1/routes', async (req, res) => {
    if (req.caller?.role !== 'admin') throw forbidden('only an admin may list all routes');
    const names = new Map((await apps.list()).map((a) => [a.id, a.name]));
    const all = await routes.all();
    res.json(Object.entries(all).sort().map(([host, appId]) => ({ host, app: names.get(appId) ?? null, app_id: appId })));
  });
  return router;
}
