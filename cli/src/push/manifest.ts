import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CliError } from '../config.js';

const ManifestProcess = z
  .object({
    instances: z.number().int().min(0).optional(),
    memory: z.union([z.string(), z.number()]).optional(),
    command: z.string().optional(),
  })
  .passthrough();
const processType = z.string().regex(/^[a-z][a-z0-9_-]{0,29}$/, 'a process type is lowercase letters, digits, - and _');

function byType(list: unknown): unknown {
  if (!Array.isArray(list)) return list;
  return Object.fromEntries(
    list.map((p: unknown) => {
      const { type, ...rest } = (p ?? {}) as { type?: unknown };
      return [String(type), rest];
    }),
  );
}

/** One application of a Cloud Foundry-shaped manifest (CONTRACT §3). */
const ManifestApp = z
  .object({
    name: z.string().optional(),
    instances: z.number().int().min(0).optional(),
    memory: z.union([z.string(), z.number()]).optional(),
    disk_quota: z.union([z.string(), z.number()]).optional(),
    command: z.string().optional(),
    buildpack: z.string().optional(),
    env: z.record(z.union([z.string(), z.number(), z.boolean()]).transform(String)).optional(),
    routes: z.array(z.object({ route: z.string() })).optional(),
    'health-check-type': z.enum(['port', 'http', 'process']).optional(),
    'health-check-http-endpoint': z.string().optional(),
    timeout: z.number().int().positive().optional(),
    path: z.string().optional(),
    /** Cloud Foundry's list (`- type: worker`) or a map by type (`worker: {instances: 2}`). */
    processes: z.preprocess(byType, z.record(processType, ManifestProcess)).optional(),
  })
  .passthrough();
export type ManifestApp = z.infer<typeof ManifestApp>;

const Manifest = z.object({ applications: z.array(ManifestApp).min(1) }).passthrough();

/** The applications of manifest.yml or nap.yml in `dir`; none when there is no manifest. */
export async function readManifest(dir: string): Promise<ManifestApp[]> {
  for (const file of ['manifest.yml', 'manifest.yaml', 'nap.yml']) {
    let text: string;
    try {
      text = await readFile(join(dir, file), 'utf8');
    } catch {
      continue;
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new CliError(`${file} is not valid YAML: ${(err as Error).message}`);
    }
    const parsed = Manifest.safeParse(doc);
    if (!parsed.success) {
      throw new CliError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return parsed.data.applications;
  }
  return readProfile(dir);
}

/**
 * The seeds' `profile` file: `memory: 512m`, `scale: 3`, `command: …` (with `{param}` placeholders),
 * one per line. Read when there is no manifest.
 */
async function readProfile(dir: string): Promise<ManifestApp[]> {
  let text: string;
  try {
    text = await readFile(join(dir, 'profile'), 'utf8');
  } catch {
    return [];
  }
  const app: ManifestApp = {};
  for (const [n, line] of text.split('\n').entries()) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = /^\s*(memory|scale|command|name)\s*:\s*(.*?)\s*$/.exec(line);
    if (!m) throw new CliError(`profile line ${n + 1}: expected memory:, scale:, command: or name:, got ${JSON.stringify(line.trim())}`);
    if (m[1] === 'scale') {
      const scale = Number(m[2]);
      if (!Number.isInteger(scale) || scale < 0) throw new CliError(`profile line ${n + 1}: scale must be a whole number`);
      app.instances = scale;
    } else if (m[1] === 'memory') app.memory = m[2];
    else if (m[1] === 'command') app.command = m[2];
    else app.name = m[2];
  }
  return [app];
}

/** The body of PUT /v1/apps/:name from a manifest app, the flags winning. */
export function appBody(app: ManifestApp | undefined, flags: { instances?: number; memory?: string; command?: string; buildpack?: string; routes?: string[] }) {
  const body: Record<string, unknown> = {};
  if (app?.instances !== undefined) body.instances = app.instances;
  if (app?.memory !== undefined) body.memory = app.memory;
  if (app?.disk_quota !== undefined) body.disk = app.disk_quota;
  if (app?.command !== undefined) body.command = app.command;
  if (app?.buildpack !== undefined) body.buildpack = app.buildpack;
  if (app?.env !== undefined) body.env = app.env;
  if (app?.routes !== undefined) body.routes = app.routes.map((r) => r.route);
  const hc: Record<string, unknown> = {};
  if (app?.['health-check-type']) hc.type = app['health-check-type'];
  if (app?.['health-check-http-endpoint']) hc.endpoint = app['health-check-http-endpoint'];
  if (app?.timeout) hc.timeout_s = app.timeout;
  if (Object.keys(hc).length > 0) body.health_check = hc;
  if (app?.processes !== undefined) {
    body.processes = Object.fromEntries(
      Object.entries(app.processes).map(([type, p]) => [
        type,
        Object.fromEntries(Object.entries({ instances: p.instances, memory: p.memory, command: p.command }).filter(([, v]) => v !== undefined)),
      ]),
    );
  }
  // processes.web would be applied after the top-level fields: a flag must win over it too.
  const web = (body.processes as Record<string, Record<string, unknown>> | undefined)?.web;
  for (const [flag, field] of [['instances', 'instances'], ['memory', 'memory'], ['command', 'command']] as const) {
    if (web && flags[flag] !== undefined) delete web[field];
  }
  if (flags.instances !== undefined) body.instances = flags.instances;
  if (flags.memory !== undefined) body.memory = flags.memory;
  if (flags.command !== undefined) body.command = flags.command;
  if (flags.buildpack !== undefined) body.buildpack = flags.buildpack;
  if (flags.routes !== undefined && flags.routes.length > 0) body.routes = flags.routes;
  return body;
}
