import { forbidden } from '@nap/common';
import { Router } from 'express';
import type { DeaPool } from '../placement/dea-pool.js';

export function deasRouter(pool: DeaPool): Router {
  const router = Router();
  router.get('/v1/deas', (req, res) => {
    if (req.caller?.role !== 'admin') throw forbidden('only an admin may list DEAs');
    res.json(pool.live());
  });
  return router;
}
