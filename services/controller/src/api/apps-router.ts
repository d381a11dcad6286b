import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Settings } from '@nap/common';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import type { AppRecord } from '../apps/app-record.js';
import { AppUpdate } from '../apps/app-update.js';
import { actorOf, type AppLifecycle } from '../apps/lifecycle.js';
import { slotKey } from '../apps/processes.js';
import { type AppPresenter, presentInstance } from '../apps/present.js';
import type { AppTraffic } from '../stats/app-traffic.js';
import { mayTouch } from '../auth/bearer.js';
import type { ActualInstancesRepository } from '../store/actual-instances.js';
import type { AppsRepository } from '../store/apps-repository.js';
import { type CrashHistory, crashesOf } from '../store/crash-history.js';
import type { EventsRepository } from '../store/events-repository.js';
import { appName } from './app-lookup.js';
import { receiveBody } from './upload.js';

export const EnvChanges = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _'), z.string().max(65536).nullable());

export interface AppsRouterDeps {
  settings: Settings;
  /** Every change of an app. */
  lifecycle: AppLifecycle;
  /** Reads only. */
  apps: AppsRepository;
  actual: ActualInstancesRepository;
  events: EventsRepository;
  crashes: CrashHistory;
  presenter: AppPresenter;
  /** What the routers carried per app (stats/app-traffic.ts). */
  traffic?: AppTraffic;
}

/** The apps API: each route parses, asks the lifecycle (apps/lifecycle.ts) for the change, and presents the result. */
export function appsRouter(deps: AppsRouterDeps): Router {
  const { settings, lifecycle, apps, actual, events, crashes, presenter } = deps;
  const router = Router();
  // The biggest valid update (64 KB of env, 100 routes, 21 commands of 8 KB) is about 300 KB.
  const json = express.json({ limit: '512kb' });
  const loadFor = (req: Request, name: string) => lifecycle.load(name, req.caller);

  const present = (app: AppRecord) => presenter.one(app);

  router.get('/v1/apps', async (req, res) => {
    const all = await apps.list((a) => mayTouch(req.caller, a.owner));
    res.json(await presenter.all(all));
  });

  router.get('/v1/apps/:name', async (req, res) => {
    res.json(await present(await loadFor(req, appName(req))));
  });

  router.put('/v1/apps/:name', json, async (req, res) => {
    const name = appName(req);
    const { app, created } = await lifecycle.put(req.caller, name, AppUpdate.parse(req.body ?? {}));
    res.status(created ? 201 : 200).json(await present(app));
  });

  router.put('/v1/apps/:name/bits', async (req, res) => {
    const app = await loadFor(req, appName(req));
    const dir = await mkdtemp(join(tmpdir(), 'nap-bits-'));
    try {
      const file = join(dir, 'bits.tgz');
      await receiveBody(req, file, settings.uploadLimitMb * 1024 * 1024);
      res.json(await lifecycle.acceptBits(app, file));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  router.post('/v1/apps/:name/start', async (req, res) => {
    res.json(await present(await lifecycle.start(req.caller, appName(req))));
  });

  // A new version of the same droplet and configuration: the health manager replaces the
  // instances one at a time, each new one RUNNING before an old one stops.
  router.post('/v1/apps/:name/restart', async (req, res) => {
    res.json(await present(await lifecycle.restart(req.caller, appName(req))));
  });

  router.post('/v1/apps/:name/stop', async (req, res) => {
    res.json(await present(await lifecycle.stop(req.caller, appName(req))));
  });

  router.get('/v1/apps/:name/instances', async (req, res) => {
    const app = await loadFor(req, appName(req));
    const now = Date.now();
    const history = await crashes.ofApp(app.id);
    res.json((await actual.ofApp(app.id)).map((i) => presentInstance(i, crashesOf(history.get(slotKey(i.process_type, i.index)), i.version)?.count ?? 0, now)));
  });

  router.delete('/v1/apps/:name', async (req, res) => {
    const name = appName(req);
    await lifecycle.remove(req.caller, name);
    res.json({ name, deleted: true, by: actorOf(req.caller) });
  });

  router.get('/v1/apps/:name/env', async (req, res) => {
    const app = await loadFor(req, appName(req));
    res.json(app.env);
  });

  router.put('/v1/apps/:name/env', json, async (req, res) => {
    const name = appName(req);
    await loadFor(req, name);
    const app = await lifecycle.setEnv(req.caller, name, EnvChanges.parse(req.body ?? {}));
    res.json(app.env);
  });

  /** The last minute through the routers, with each running instance's memory and CPU. */
  router.get('/v1/apps/:name/stats', async (req, res) => {
    const app = await loadFor(req, appName(req));
    const instances = (await actual.ofApp(app.id))
      .filter((i) => i.state === 'RUNNING')
      .map((i) => ({ process_type: i.process_type, index: i.index, mem_bytes: i.mem_bytes, cpu: i.cpu }));
    res.json({ app: app.name, traffic: deps.traffic?.ofApp(app.name) ?? null, instances });
  });

  router.get('/v1/apps/:name/events', async (req, res) => {
    const app = await loadFor(req, appName(req));
    res.json(await events.list(app.id));
  });

  return router;
}
