import { access } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type Response, Router } from 'express';

/** The dashboard's built files (dashboard/, `npm run build`), beside the controller in the repository. */
export const DASHBOARD_DIR = new URL('../../../../../dashboard/dist/', import.meta.url).pathname;

/**
 * The page may load and call nothing but this origin, and no other site may frame it: an app's
 * name, env or log line shown in it cannot pull a script in or send the token out.
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function harden(res: Response): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
}

/**
 * The web dashboard at `/` of the API's own address (same origin: no CORS; the API stays under
 * /v1). Its assets are named by their hash and kept by browsers for good; every other path of the
 * page (/apps/NAME…) answers index.html, which is never cached, so a link opens directly.
 */
export function dashboardRouter(dir = DASHBOARD_DIR): Router {
  const router = Router();
  const index = join(dir, 'index.html');
  router.use(
    '/assets',
    express.static(join(dir, 'assets'), {
      index: false,
      immutable: true,
      maxAge: '365d',
      fallthrough: false,
      setHeaders: (res) => harden(res),
    }),
  );
  router.get(/^\/(?!v1\/|v1$|git\/|healthz$)/, async (_req, res, next) => {
    if (!(await access(index).then(() => true, () => false))) return next();
    harden(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return router;
}
