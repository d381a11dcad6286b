import { Megabytes, RouteHost, msg } from '@nap/common';
import { z } from 'zod';
import { STACKS } from './app-record.js';
import { cronProblem } from './cron-schedule.js';

/** The env travels in every start message on NATS (1 MB at most): keep it well under. */
const MAX_ENV_BYTES = 64 * 1024;

const envName = z.string().max(128, 'env names are at most 128 characters').regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _, not starting with a digit');
/** Execve takes C strings: a NUL would cut the value short, or be refused by Docker at start. */
const envValue = z.string().max(65536).refine((v) => !v.includes('\0'), 'env values cannot hold a NUL byte');
const MAX_ENV_VARS = 256;
/** DNS: a host name is at most 253 characters (RFC 1035); the app's routes travel in every start message. */
const Route = z.string().max(253, 'a route is at most 253 characters').pipe(RouteHost);

/** A manifest's `cron:` entry (issue 16): the command runs as a task at each tick of the schedule (UTC). */
export const CronEntry = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,29}$/, 'a cron entry name is lowercase letters, digits and - (at most 30)').optional(),
    schedule: z.string().max(200).superRefine((s, ctx) => {
      const problem = cronProblem(s);
      if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    }),
    command: z.string().min(1, 'a cron entry needs a command').max(8192),
  })
  .strict();
export type CronEntry = z.infer<typeof CronEntry>;

/** The body of PUT /v1/apps/:name (CONTRACT §2). Unknown fields are refused so typos do not pass silently. */
export const AppUpdate = z
  .object({
    instances: z.number().int().min(0).max(1000).optional(),
    memory: Megabytes.pipe(z.number().max(65536, 'at most 64G')).optional(),
    disk: Megabytes.pipe(z.number().max(1024 * 1024, 'at most 1024G')).optional(),
    command: z.string().min(1).max(8192).nullable().optional(),
    buildpack: z.string().min(1).max(1024).nullable().optional(),
    env: z
      .record(envName, envValue)
      .refine((env) => Object.keys(env).length <= MAX_ENV_VARS, `at most ${MAX_ENV_VARS} env variables`)
      .refine((env) => Buffer.byteLength(JSON.stringify(env)) <= MAX_ENV_BYTES, `the env may hold at most ${MAX_ENV_BYTES / 1024} KB in all`)
      .optional(),
    routes: z.array(Route).max(100, 'at most 100 routes').optional(),
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
    /** nap enable-ssh / disable-ssh. */
    ssh: z.boolean().optional(),
    cron: z
      .array(CronEntry)
      .max(20, 'at most 20 cron entries')
      .transform((list) => list.map((e, i) => ({ ...e, name: e.name ?? `cron-${i + 1}` })))
      .refine((list) => new Set(list.map((e) => e.name)).size === list.length, 'cron entry names must differ')
      .optional(),
  })
  .strict();
export type AppUpdate = z.infer<typeof AppUpdate>;
