import { Megabytes, RouteHost, msg } from '@nap/common';
import { z } from 'zod';
import { STACKS } from './app-record.js';

/** The env travels in every start message on NATS (1 MB at most): keep it well under. */
const MAX_ENV_BYTES = 64 * 1024;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _, not starting with a digit');

/** The body of PUT /v1/apps/:name (CONTRACT §2). Unknown fields are refused so typos do not pass silently. */
export const AppUpdate = z
  .object({
    instances: z.number().int().min(0).max(1000).optional(),
    memory: Megabytes.pipe(z.number().max(65536, 'at most 64G')).optional(),
    disk: Megabytes.pipe(z.number().max(1024 * 1024, 'at most 1024G')).optional(),
    command: z.string().min(1).max(8192).nullable().optional(),
    buildpack: z.string().min(1).max(1024).nullable().optional(),
    env: z
      .record(envName, z.string().max(65536))
      .refine((env) => JSON.stringify(env).length <= MAX_ENV_BYTES, `the env may hold at most ${MAX_ENV_BYTES / 1024} KB in all`)
      .optional(),
    routes: z.array(RouteHost).max(100).optional(),
    health_check: msg.HealthCheck.partial().optional(),
    stack: z.enum(STACKS).optional(),
    /** Per process type: `web` is the same as the top-level fields; a null command goes back to the Procfile's. */
    processes: z
      .record(
        msg.ProcessType,
        z
          .object({
            instances: z.number().int().min(0).max(1000).optional(),
            memory: Megabytes.pipe(z.number().max(65536, 'at most 64G')).optional(),
            command: z.string().min(1).max(8192).nullable().optional(),
          })
          .strict(),
      )
      .refine((p) => Object.keys(p).length <= 20, 'at most 20 process types')
      .optional(),
  })
  .strict();
export type AppUpdate = z.infer<typeof AppUpdate>;
