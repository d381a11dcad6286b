import type { Settings } from '@nap/common';
import { Router } from 'express';
import { openapi } from './openapi.js';

export const API_VERSION = '1';
export const NAP_VERSION = '0.1.0';

export function infoRouter(settings: Settings): Router {
  const router = Router();
  router.get('/v1/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  router.get('/v1/info', (_req, res) => {
    res.json({ name: 'nap', version: NAP_VERSION, domain: settings.domain, router_url: settings.routerUrl, api_version: API_VERSION });
  });
  return router;
}

export function whoamiRouter(): Router {
  const router = Router();
  router.get('/v1/whoami', (req, res) => {
    res.json(req.caller);
  });
  return router;
}
