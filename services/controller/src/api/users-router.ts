import type { UserView } from '@nap/common';
import { conflict, forbidden } from '@nap/common';
import express, { Router } from 'express';
import { z } from 'zod';
import type { UsersRepository } from '../store/users-repository.js';

export const NewUser = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'user names are 1-63 lowercase letters, digits, ., _ or -'),
    role: z.enum(['admin', 'developer']).default('developer'),
  })
  .strict();

export function usersRouter(users: UsersRepository): Router {
  const router = Router();
  router.post('/v1/users', express.json({ limit: '16kb' }), async (req, res) => {
    if (req.caller?.role !== 'admin') throw forbidden('only an admin may create users');
    const body = NewUser.parse(req.body ?? {});
    if (body.name === 'admin') throw conflict('user_exists', 'the name admin is reserved');
    const made = await users.create(body.name, body.role, req.caller.name);
    if (!made) throw conflict('user_exists', `user ${body.name} exists already`);
    res.status(201).json({ name: made.user.name, role: made.user.role, token: made.token });
  });
  router.get('/v1/users', async (req, res) => {
    if (req.caller?.role !== 'admin') throw forbidden('only an admin may list users');
    res.json((await users.list()).map((u): UserView => ({ name: u.name, role: u.role, created_at: u.created_at })));
  });
  return router;
}
