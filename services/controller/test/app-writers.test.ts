import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

// The controller's sources, from dist/test back to src.
const src = new URL('../../src/', import.meta.url).pathname;

/** Every call that writes an app record: the repository's create, update and delete, or etcd at an app's key. */
const WRITES = [/\bapps\??\.(create|update|delete)\s*\(/g, /\bkeys\.app\s*\(/g];
/** The only writers: the lifecycle, and the repository it writes through. */
const ALLOWED = new Set(['apps/lifecycle.ts', 'store/apps-repository.ts']);

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) sources(full, out);
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

function writesIn(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return WRITES.flatMap((re) => [...text.matchAll(re)].map((m) => `${relative(src, file)}:${text.slice(0, m.index).split('\n').length}: ${m[0]}`));
}

test('only the app lifecycle (apps/lifecycle.ts) writes app records in the controller', () => {
  const files = sources(src);
  assert.ok(files.length > 50, `read the controller's sources (${files.length} files in ${src})`);
  const outside = files.filter((f) => !ALLOWED.has(relative(src, f))).flatMap(writesIn);
  assert.deepEqual(outside, [], 'write app records through AppLifecycle instead');
});

test('the check sees the writes that are there', () => {
  // So that it cannot pass by seeing nothing: the lifecycle does write, in these ways.
  const seen = writesIn(join(src, 'apps/lifecycle.ts')).join('\n');
  for (const call of ['apps.create(', 'apps.update(', 'apps.delete(']) assert.ok(seen.includes(call), `${call} in lifecycle.ts`);
});
