import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './platform.js';

// A module resolve hook (node:module register) that appends every resolved URL to a file: ES
// modules have no list of what was loaded, and the hook sees every import, dynamic ones too (but
// not a require() inside a CommonJS package).
const HOOK = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.NAP_RECORD_MODULES, resolved.url + '\\n');
  return resolved;
}
`;
const REGISTER = `import { register } from 'node:module';
register(new URL('./hook.mjs', import.meta.url));
`;

export interface CliStart {
  /** Every module URL the command resolved, in order. */
  modules: string[];
  /** The npm packages among them (`@scope/name` or `name`). */
  packages: Set<string>;
}

/** Runs the real `nap` with `args` and says what it loaded; `preload` is imported first (a what-if). */
export async function modulesLoadedBy(args: string[], preload?: string): Promise<CliStart> {
  const dir = await mkdtemp(join(tmpdir(), 'nap-modules-'));
  try {
    await writeFile(join(dir, 'hook.mjs'), HOOK);
    await writeFile(join(dir, 'register.mjs'), REGISTER);
    const record = join(dir, 'loaded.txt');
    await writeFile(record, '');
    const imports = ['--import', join(dir, 'register.mjs'), ...(preload ? ['--import', preload] : [])];
    await promisify(execFile)(process.execPath, [...imports, `${repoRoot}cli/bin/nap.js`, ...args], { cwd: repoRoot, env: { ...process.env, NAP_RECORD_MODULES: record } });
    const modules = (await readFile(record, 'utf8')).split('\n').filter(Boolean);
    const packages = new Set(modules.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => p !== undefined));
    return { modules, packages };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
