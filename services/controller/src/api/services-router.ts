import { conflict, NapError, NewUserProvidedService, notFound, SERVICE_NAME, type ServiceRecord } from '@nap/common';
import express, { type Request, Router } from 'express';
import type { AppLifecycle } from '../apps/lifecycle.js';
import { mayTouch } from '../auth/bearer.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { ServicesRepository } from '../store/services-repository.js';
import { appName } from './app-lookup.js';

function serviceName(req: Request, param = 'service'): string {
  const name = String(req.params[param] ?? '');
  if (!SERVICE_NAME.test(name)) throw new NapError(400, 'invalid_service_name', `${JSON.stringify(name)} is not a service name (1-63 lowercase letters, digits and -)`);
  return name;
}

/**
 * Services (issue 17; Cloud Foundry's `cups`, `bind-service`): a user-provided service holds
 * credentials its owner gives; binding copies them into an app, whose instances see them in
 * VCAP_SERVICES (and DATABASE_URL). Another developer's service is as good as absent: they can
 * neither see, bind nor delete it.
 */
export function servicesRouter(deps: { services: ServicesRepository; apps: AppsRepository; lifecycle: AppLifecycle }): Router {
  const { services, apps, lifecycle } = deps;
  const router = Router();
  const json = express.json({ limit: '32kb' });

  const boundTo = async (name: string) => (await apps.list((a) => (a.services ?? []).some((b) => b.name === name))).map((a) => a.name).sort();
  const present = async (s: ServiceRecord, withCredentials: boolean) => ({
    name: s.name,
    kind: s.kind,
    owner: s.owner,
    created_at: s.created_at,
    bound_apps: await boundTo(s.name),
    ...(withCredentials ? { credentials: s.credentials } : {}),
  });
  const own = async (req: Request, name: string): Promise<ServiceRecord> => {
    const s = await services.get(name);
    if (!s || !mayTouch(req.caller, s.owner)) throw notFound('service_not_found', `no service ${name} of yours (nap services lists them)`);
    return s;
  };

  router.get('/v1/services', async (req, res) => {
    const mine = (await services.list()).filter((s) => mayTouch(req.caller, s.owner)).sort((a, b) => a.name.localeCompare(b.name));
    res.json(await Promise.all(mine.map((s) => present(s, false))));
  });

  router.get('/v1/services/:service', async (req, res) => {
    res.json(await present(await own(req, serviceName(req)), true));
  });

  router.post('/v1/services', json, async (req, res) => {
    const body = NewUserProvidedService.parse(req.body ?? {});
    const record: ServiceRecord = { name: body.name, kind: 'user-provided', credentials: body.credentials, owner: req.caller?.name ?? 'admin', created_at: new Date().toISOString() };
    if (!(await services.create(record))) throw conflict('service_exists', `a service named ${body.name} exists already: choose another name`);
    res.status(201).json(await present(record, true));
  });

  router.delete('/v1/services/:service', async (req, res) => {
    const s = await own(req, serviceName(req));
    const bound = await boundTo(s.name);
    if (bound.length > 0) throw conflict('service_bound', `${s.name} is bound to ${bound.join(', ')}: unbind it first (nap unbind-service APP ${s.name})`);
    await services.delete(s.name);
    res.status(204).end();
  });

  router.put('/v1/apps/:name/services/:service', async (req, res) => {
    const app = appName(req);
    const s = await own(req, serviceName(req));
    const updated = await lifecycle.setServiceBinding(req.caller, app, s.name, { name: s.name, label: s.kind, credentials: s.credentials, bound_at: new Date().toISOString() });
    res.json({ app: updated.name, service: s.name, bound: true });
  });

  router.delete('/v1/apps/:name/services/:service', async (req, res) => {
    const app = appName(req);
    const updated = await lifecycle.setServiceBinding(req.caller, app, serviceName(req), null);
    res.json({ app: updated.name, service: req.params.service, bound: false });
  });

  return router;
}
