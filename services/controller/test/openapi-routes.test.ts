import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openapi } from '../src/api/openapi.js';

// The routers' sources, from dist/test back to src.
const apiDir = new URL('../../src/api/', import.meta.url).pathname;

/** Every `router.get('/v1/…', …)` (and put, post, delete) the API's routers declare, as OpenAPI writes it. */
function declaredRoutes(): string[] {
  const routes: string[] = [];
  for (const file of readdirSync(apiDir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(apiDir, file), 'utf8');
    for (const m of text.matchAll(/\brouter\.(get|put|post|delete|patch)\(\s*'([^']+)'/g)) {
      routes.push(`${m[1].toUpperCase()} ${m[2].replace(/[:*](\w+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

function documentedRoutes(): string[] {
  return Object.entries(openapi.paths ?? {})
    .flatMap(([path, item]) => Object.keys(item ?? {}).filter((k) => ['get', 'put', 'post', 'delete', 'patch'].includes(k)).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

test('the OpenAPI document has every route the routers declare, and no other', () => {
  const declared = declaredRoutes();
  assert.ok(declared.length > 30, `read the routers (${declared.length} routes in ${apiDir})`);
  assert.deepEqual(documentedRoutes(), declared);
});

test('each JSON body in the document is the schema its route parses with', () => {
  const schemas = openapi.components?.schemas ?? {};
  // Spot checks against the zod schemas' own rules, so the document is not a hand-written copy.
  assert.deepEqual((schemas.AppUpdate as { properties: { instances: unknown } }).properties.instances, { type: 'integer', minimum: 0, maximum: 1000 });
  assert.equal((schemas.AppUpdate as { additionalProperties?: boolean }).additionalProperties, false);
  assert.deepEqual((schemas.Rollback as { required?: string[] }).required, ['version']);
  const put = openapi.paths?.['/v1/apps/{name}']?.put as { requestBody: { content: Record<string, { schema: { $ref: string } }> } };
  assert.equal(put.requestBody.content['application/json'].schema.$ref, '#/components/schemas/AppUpdate');
});
