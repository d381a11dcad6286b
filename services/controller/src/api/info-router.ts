import { readFile } from 'node:fs/promises';
import { notFound, type Settings } from '@nap/common';
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
  // Open, as the CA's certificate is public: a host that joins, or a CLI that targets this nap,
  // fetches it over an unchecked connection and keeps it only if its hash is the pin it was given.
  router.get('/v1/cluster/ca', async (_req, res) => {
    const ca = settings.tls ? await readFile(settings.tls.ca, 'utf8').catch(() => null) : null;
    if (!ca) throw notFound('no_tls', 'this nap does not speak TLS between hosts: it has no CA');
    res.json({ ca });
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
