/**
 * What a pushed tree says about its app: a Cloud Foundry-shaped manifest (CONTRACT §3), or the
 * seeds' `profile`, and which files to leave out (.napignore). Parsed from text the same way by the
 * CLI (reading a directory) and the controller (reading a pushed commit's git objects), so both
 * refuse the same things. Errors name a file, a line and a key, never the file's content: a
 * "manifest" may be a link to a secret, and its content must not come back in an error.
 */
import ignore from 'ignore';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z, type ZodIssue } from 'zod';

/** Looked for in this order at the root of the tree; the first that exists is the manifest. */
export const MANIFEST_FILES = ['manifest.yml', 'manifest.yaml', 'nap.yml'] as const;
/** Read when there is no manifest. */
export const PROFILE_FILE = 'profile';
/** The first that exists holds the ignore rules (gitignore syntax). */
export const IGNORE_FILES = ['.napignore', '.cfignore'] as const;
/** Never uploaded: version control, local dependencies (the buildpack installs them) and the manifest tooling's own files. */
export const ALWAYS_IGNORED = ['.git/', '.svn/', '.hg/', 'node_modules/', '.napignore', '.cfignore', '.DS_Store'];
/** Manifests, profiles and ignore files are a few KB; anything bigger is not one. */
export const MAX_APP_CONFIG_FILE_BYTES = 256 * 1024;

/** A manifest, profile or ignore file that is refused; the message quotes nothing from the file. */
export class AppConfigError extends Error {}

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
    /** Commands run as tasks on a schedule (entries of schedule, command and name); the API checks them. */
    cron: z.array(z.object({ name: z.string().optional(), schedule: z.string(), command: z.string() }).passthrough()).optional(),
  })
  .passthrough();
export type ManifestApp = z.infer<typeof ManifestApp>;

const Manifest = z.object({ applications: z.array(ManifestApp).min(1) }).passthrough();

/** What went wrong at a key, in words of our own: zod's messages may quote the value it received. */
function describeIssue(issue: ZodIssue): string {
  const at = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  switch (issue.code) {
    case 'invalid_type':
      return `${at}: expected ${issue.expected}`;
    case 'invalid_enum_value':
      return `${at}: must be one of ${issue.options.join(', ')}`;
    case 'too_small':
      return `${at}: too small`;
    case 'invalid_string':
      return `${at}: ${issue.validation === 'regex' ? issue.message : 'not a valid value'}`;
    default:
      return `${at}: not a valid value`;
  }
}

/** The applications of a manifest's text. `file` only names it in errors. */
export function parseManifest(file: string, text: string): ManifestApp[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    // The parser's message shows the offending line: give its number only.
    const line = err instanceof YAMLParseError ? err.linePos?.[0]?.line : undefined;
    throw new AppConfigError(`${file} is not valid YAML${line ? ` (line ${line})` : ''}: fix it and push again`);
  }
  const parsed = Manifest.safeParse(doc);
  if (!parsed.success) throw new AppConfigError(`${file}: ${parsed.error.issues.slice(0, 5).map(describeIssue).join('; ')}`);
  return parsed.data.applications;
}

/** The seeds' `profile`: `memory: 512m`, `scale: 3`, `command: …` (with `{param}` placeholders), `name: …`, one per line. */
export function parseProfile(text: string): ManifestApp[] {
  const app: ManifestApp = {};
  for (const [n, line] of text.split('\n').entries()) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = /^\s*(memory|scale|command|name)\s*:\s*(.*?)\s*$/.exec(line);
    if (!m) throw new AppConfigError(`profile line ${n + 1}: expected memory:, scale:, command: or name:`);
    if (m[1] === 'scale') {
      const scale = Number(m[2]);
      if (!Number.isInteger(scale) || scale < 0) throw new AppConfigError(`profile line ${n + 1}: scale must be a whole number`);
      app.instances = scale;
    } else if (m[1] === 'memory') app.memory = m[2];
    else if (m[1] === 'command') app.command = m[2];
    else app.name = m[2];
  }
  return [app];
}

/** Refuses what cannot be an app's config file before anything reads it: a link, a directory, a device, a huge file. */
export function checkAppConfigFile(file: string, kind: 'file' | 'symlink' | 'other', size: number): void {
  if (kind === 'symlink') throw new AppConfigError(`${file} is a symbolic link: make it a regular file (nap reads no links for its own files)`);
  if (kind !== 'file') throw new AppConfigError(`${file} is not a regular file`);
  if (size > MAX_APP_CONFIG_FILE_BYTES) throw new AppConfigError(`${file} is over ${MAX_APP_CONFIG_FILE_BYTES / 1024} KB: that is not a manifest, profile or ignore file`);
}

/** The app of a manifest that a push to `name` deploys: the one with that name, or the only one. */
export function manifestAppFor(apps: ManifestApp[], name: string): ManifestApp | undefined {
  return apps.find((a) => a.name === name) ?? (apps.length === 1 ? apps[0] : undefined);
}

/** True for a manifest `path:` that means the tree itself. */
export function isRootPath(path: string | undefined): boolean {
  if (path === undefined) return true;
  const p = path.trim().replace(/\/+$/, '');
  return p === '' || p === '.';
}

/** Which paths (relative, `/`-separated) a push uploads: not ALWAYS_IGNORED, not in the ignore file's rules. */
export function uploadFilter(ignoreText: string): (rel: string, isDir: boolean) => boolean {
  const rules = ignore().add(ALWAYS_IGNORED).add(ignoreText);
  return (rel, isDir) => !rules.ignores(isDir ? `${rel}/` : rel);
}

export interface AppBodyFlags {
  instances?: number;
  memory?: string;
  disk?: string;
  command?: string;
  buildpack?: string;
  routes?: string[];
}

/** The body of PUT /v1/apps/:name from a manifest app, the flags winning. */
export function appBody(app: ManifestApp | undefined, flags: AppBodyFlags = {}): Record<string, unknown> {
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
  if (app?.cron !== undefined) body.cron = app.cron;
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
  if (flags.disk !== undefined) body.disk = flags.disk;
  if (flags.command !== undefined) body.command = flags.command;
  if (flags.buildpack !== undefined) body.buildpack = flags.buildpack;
  if (flags.routes !== undefined && flags.routes.length > 0) body.routes = flags.routes;
  return body;
}
