import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AppView } from '@nap/common';
import { httpGet } from '@nap/testkit';
import { type ApiHarness, startApi } from './support/api-harness.js';

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; required?: string[]; additionalProperties?: boolean | Schema; enum?: unknown[]; oneOf?: Schema[]; anyOf?: Schema[]; items?: Schema; $ref?: string };
type Operation = { requestBody?: { content: Record<string, { schema: Schema }> } };
type Doc = { paths: Record<string, Record<string, Operation | unknown>>; components: { schemas: Record<string, Schema> } };

let harness: ApiHarness;
let api: string;
let auth: { Authorization: string };

before(async () => {
  harness = await startApi({ NAP_UPLOAD_LIMIT_MB: '1' });
  ({ api, auth } = harness);
  const made = await httpGet(`${api}/v1/apps/victim`, { ...auth, 'Content-Type': 'application/json' }, 'PUT', JSON.stringify({ env: { KEEP: 'me' } }));
  assert.equal(made.status, 201);
});

after(async () => {
  await harness?.close();
});

const HUGE = 'x'.repeat(200_000);

/** Values of the wrong kind for a schema: the other JSON types, a huge string, a value outside an enum. */
function wrongValues(schema: Schema): unknown[] {
  const alternatives = schema.oneOf ?? schema.anyOf;
  const types = new Set([schema.type ?? (alternatives ? alternatives.map((s) => s.type) : [])].flat().filter(Boolean) as string[]);
  const out: unknown[] = [];
  if (!types.has('string')) out.push('not-the-right-type');
  if (!types.has('integer') && !types.has('number')) out.push(12345);
  if (!types.has('object')) out.push({ nested: true });
  if (!types.has('array')) out.push([1, 2]);
  if (!types.has('boolean')) out.push(true);
  if (types.has('string') || schema.enum) out.push(HUGE);
  if (types.has('integer')) out.push(-7, 1.5, 10 ** 12);
  if (schema.enum) out.push('not-one-of-them');
  return out;
}

/** Malformed bodies for an object schema: broken JSON, other JSON kinds, unknown fields, missing and wrong fields. */
function malformedBodies(schema: Schema): string[] {
  const bodies = ['{not json', '[]', '"a string"', '12', 'null'];
  if (schema.additionalProperties === false) bodies.push(JSON.stringify({ unknown_field: 1 }));
  if (schema.required?.length) bodies.push('{}');
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    bodies.push(JSON.stringify({ '1 bad key!': 'x' }));
    for (const v of wrongValues(schema.additionalProperties)) bodies.push(JSON.stringify({ GOOD_KEY: v }));
  }
  for (const [field, fieldSchema] of Object.entries(schema.properties ?? {})) {
    const base = Object.fromEntries((schema.required ?? []).filter((r) => r !== field).map((r) => [r, 'v1']));
    for (const v of wrongValues(fieldSchema)) bodies.push(JSON.stringify({ ...base, [field]: v }));
  }
  return bodies;
}

/** What may not change: every app as the API shows it, their env, releases and events, users and routes. */
async function snapshot(): Promise<string> {
  const get = async (path: string) => (await httpGet(`${api}${path}`, auth)).body;
  const apps = JSON.parse(await get('/v1/apps')) as { name: string }[];
  const parts = [await get('/v1/apps'), await get('/v1/users'), await get('/v1/routes')];
  for (const a of apps) parts.push(await get(`/v1/apps/${a.name}/env`), await get(`/v1/apps/${a.name}/releases`), await get(`/v1/apps/${a.name}/events`));
  return parts.join('\n');
}

test('every endpoint of the OpenAPI description answers malformed input with a 4xx and a message, never a 5xx, and changes nothing', async () => {
  const doc = JSON.parse((await httpGet(`${api}/v1/openapi.json`)).body) as Doc;
  const resolve = (s: Schema): Schema => (s.$ref ? doc.components.schemas[s.$ref.split('/').pop()!] : s);
  const before = await snapshot();
  const tried: string[] = [];
  const badNames = ['Bad_Name', 'a'.repeat(64), '-dash', 'dot.dot', '%2e%2e'];

  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method === 'parameters') continue;
      const operation = op as Operation;
      const fill = (name: string) => template.replace('{name}', name).replace('{index}', '0').replace('{path}', 'x');
      const cases: { url: string; body?: string; headers?: Record<string, string> }[] = [];
      const sendsBody = method === 'put' || method === 'post';
      if (template.includes('{name}')) {
        for (const n of badNames) cases.push(sendsBody ? { url: fill(n), body: '{}', headers: { 'Content-Type': 'application/json' } } : { url: fill(n) });
      }
      const json = operation.requestBody?.content['application/json'];
      if (json) for (const body of malformedBodies(resolve(json.schema))) cases.push({ url: fill('victim'), body, headers: { 'Content-Type': 'application/json' } });
      if (operation.requestBody?.content['application/gzip']) {
        cases.push({ url: fill('victim'), body: 'not a tarball' });
        cases.push({ url: fill('victim'), body: 'x'.repeat(2 * 1024 * 1024) });
      }
      if (template.endsWith('/logs')) for (const q of ['?file=bogus', '?file=stdout&instance=abc', '?instance=99']) cases.push({ url: `${fill('victim')}${q}` });
      if (template.includes('{index}')) cases.push({ url: template.replace('{name}', 'victim').replace('{index}', 'abc').replace('{path}', 'x') });
      for (const c of cases) {
        const r = await httpGet(`${api}${c.url}`, { ...auth, ...c.headers }, method.toUpperCase(), c.body);
        const what = `${method.toUpperCase()} ${c.url.slice(0, 80)} ${c.body?.slice(0, 60) ?? ''}`;
        tried.push(what);
        assert.ok(r.status >= 400 && r.status < 500, `${what} answered ${r.status}: ${r.body.slice(0, 200)}`);
        let message: string | undefined;
        try {
          message = (JSON.parse(r.body) as { error?: { message?: string } }).error?.message;
        } catch {
          assert.fail(`${what} answered ${r.status} with a body that is not JSON: ${JSON.stringify(r.body.slice(0, 100))}`);
        }
        assert.ok(message && message.length > 0, `${what} gave no message`);
      }
    }
  }
  assert.ok(tried.length > 150, `only ${tried.length} malformed requests were made`);
  assert.equal(await snapshot(), before, 'no malformed request changed anything');
});

test('the answers are the shared views the CLI reads (libs/common/src/api-views.ts), field for field', async () => {
  const app = JSON.parse((await httpGet(`${api}/v1/apps/victim`, auth)).body) as unknown;
  const parsed = AppView.strict().safeParse(app);
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  const list = JSON.parse((await httpGet(`${api}/v1/apps`, auth)).body) as unknown[];
  assert.ok(list.length > 0 && list.every((a) => AppView.strict().safeParse(a).success));
  assert.deepEqual(JSON.parse((await httpGet(`${api}/v1/apps/victim/instances`, auth)).body), []);
});
