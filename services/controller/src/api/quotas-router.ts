import { forbidden, Megabytes, notFound } from '@nap/common';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import type { QuotaGuard } from '../quotas/quota-guard.js';
import type { QuotasRepository } from '../store/quotas-repository.js';
import type { UsersRepository } from '../store/users-repository.js';

const count = z.number().int().min(0).max(1_000_000);

/** PUT /v1/users/:name/quota: any of the three; the others keep their value. Unknown fields are refused. */
export const QuotaChange = z
  .object({
    apps: count.optional(),
    instances: count.optional(),
    memory_mb: Megabytes.pipe(z.number().int().min(0).max(1024 * 1024 * 1024)).optional(),
  })
  .strict()
  .refine((q) => q.apps !== undefined || q.instances !== undefined || q.memory_mb !== undefined, 'give at least one of apps, instances, memory_mb');

export interface QuotasRouterDeps {
  users: UsersRepository;
  quotas: QuotasRepository;
  guard: QuotaGuard;
}

/** Per-user quotas: an admin sets them; a user reads their own (use and limits), an admin anyone's. */
export function quotasRouter({ users, quotas, guard }: QuotasRouterDeps): Router {
  const router = Router();

  async function roleOf(name: string): Promise<'admin' | 'developer'> {
    if (name === 'admin') return 'admin';
    const user = (await users.list()).find((u) => u.name === name);
    if (!user) throw notFound('user_not_found', `there is no user ${name}: see nap users`);
    return user.role;
  }

  async function present(name: string) {
    const role = await roleOf(name);
    const set = await quotas.get(name);
    return {
      user: name,
      role,
      // Admins have no quota: what an admin set for one only matters if they become a developer.
      unlimited: role === 'admin',
      source: set ? 'set' : 'default',
      limit: await guard.limitOf(name),
      used: await guard.useOf(name),
      ...(set ? { set_by: set.set_by, set_at: set.set_at } : {}),
    };
  }

  const userOf = (req: Request) => String(req.params.name ?? '');

  router.get('/v1/users/:name/quota', async (req, res) => {
    const name = userOf(req);
    if (req.caller?.role !== 'admin' && req.caller?.name !== name) throw forbidden('you may read only your own quota');
    res.json(await present(name));
  });

  router.put('/v1/users/:name/quota', express.json({ limit: '4kb' }), async (req, res) => {
    if (req.caller?.role !== 'admin') throw forbidden('only an admin may set quotas');
    const name = userOf(req);
    const change = QuotaChange.parse(req.body ?? {});
    await roleOf(name);
    const current = await guard.limitOf(name);
    await quotas.put(name, { ...current, ...change, set_by: req.caller.name, set_at: new Date().toISOString() });
    res.json(await present(name));
  });

  return router;
}
