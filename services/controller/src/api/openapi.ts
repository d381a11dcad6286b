import { extendZodWithOpenApi, OpenApiGeneratorV31, OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { APP_NAME, AppView, BUILDPACK_NAME, InstanceView, JoinAnswer, JoinRequest, TaskView } from '@nap/common';
import { z } from 'zod';
import { AppUpdate } from '../apps/app-update.js';
import { EnvChanges } from './apps-router.js';
import { NewGitBuildpack } from './buildpacks-router.js';
import { DeployBody } from './deploy-router.js';
import { NewDomain } from './domains-router.js';
import { NewJoinToken } from './nodes-router.js';
import { QuotaChange } from './quotas-router.js';
import { Rollback } from './releases-router.js';
import { SimilarBody } from './similar-router.js';
import { TaskCreate } from './tasks-router.js';
import { DrainBody } from './drains-router.js';
import { NewCertificate } from './certs-router.js';
import { NewUserProvidedService } from '@nap/common';
import { RouteOptionsBody } from './route-options-router.js';
import { NewUser } from './users-router.js';

/**
 * The REST API (docs/contract.md §2) as OpenAPI 3.1, served at GET /v1/openapi.json, generated from
 * the very zod schemas the routes parse their bodies with. test/openapi-routes.test.ts checks that
 * every route the routers declare is here and nothing else; test/openapi-walk.integration.test.ts
 * sends every operation malformed input.
 */
extendZodWithOpenApi(z);

const registry = new OpenAPIRegistry();
registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
const ErrorBody = registry.register('Error', z.object({ error: z.object({ code: z.string(), message: z.string() }) }));
const bodies = {
  AppUpdate: registry.register('AppUpdate', AppUpdate),
  EnvChanges: registry.register('EnvChanges', EnvChanges),
  Similar: registry.register('Similar', SimilarBody),
  Rollback: registry.register('Rollback', Rollback),
  Deploy: registry.register('Deploy', DeployBody),
  NewBuildpack: registry.register('NewBuildpack', NewGitBuildpack),
  NewDomain: registry.register('NewDomain', NewDomain),
  NewUser: registry.register('NewUser', NewUser),
  QuotaChange: registry.register('QuotaChange', QuotaChange),
  NewJoinToken: registry.register('NewJoinToken', NewJoinToken),
  JoinRequest: registry.register('JoinRequest', JoinRequest),
  TaskCreate: registry.register('TaskCreate', TaskCreate),
  Drain: registry.register('Drain', DrainBody),
  NewCertificate: registry.register('NewCertificate', NewCertificate),
  NewUserProvidedService: registry.register('NewUserProvidedService', NewUserProvidedService),
  RouteOptions: registry.register('RouteOptions', RouteOptionsBody),
};

const answers = {
  AppView: registry.register('AppView', AppView),
  InstanceView: registry.register('InstanceView', InstanceView),
  JoinAnswer: registry.register('JoinAnswer', JoinAnswer),
  TaskView: registry.register('TaskView', TaskView),
};

const params = {
  name: z.string().regex(APP_NAME),
  buildpack: z.string().regex(BUILDPACK_NAME),
  domain: z.string().max(253),
  service: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
  user: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/),
  index: z.string().regex(/^\d+$/),
  sequence: z.string().regex(/^\d+$/),
  id: z.string().max(64),
  path: z.string(),
};
type Param = keyof typeof params;

const error = { description: 'an error', content: { 'application/json': { schema: ErrorBody } } };
const tarball = { content: { 'application/gzip': { schema: z.string().openapi({ format: 'binary' }) } }, required: true };

interface Operation {
  /** Path parameters by name, when the name in the path is not the parameter's kind (`{name}` of a domain). */
  kinds?: Partial<Record<string, Param>>;
  body?: z.ZodTypeAny | 'tarball';
  query?: z.AnyZodObject;
  /** Answers besides the common errors; 200 when not given. */
  answers?: string[];
  /** What a 200 or 201 answer holds, where the CLI reads it. */
  answer?: z.ZodTypeAny;
  /** Open to anyone: no token. */
  open?: boolean;
}

/** Every route of the API: `METHOD /path/{param}`. */
const operations: Record<string, Operation> = {
  'GET /healthz': { open: true, answers: ['200', '503'] },
  'GET /v1/info': { open: true },
  'GET /v1/openapi.json': { open: true },
  'GET /v1/cluster/ca': { open: true, answers: ['200', '404'] },
  'GET /v1/whoami': {},
  'GET /v1/users': {},
  'POST /v1/users': { body: bodies.NewUser, answers: ['201'] },
  'GET /v1/users/{name}/quota': { kinds: { name: 'user' } },
  'PUT /v1/users/{name}/quota': { kinds: { name: 'user' }, body: bodies.QuotaChange },
  'GET /v1/buildpacks': {},
  'POST /v1/buildpacks': { body: bodies.NewBuildpack, answers: ['201'] },
  'DELETE /v1/buildpacks/{name}': { kinds: { name: 'buildpack' } },
  'PUT /v1/buildpacks/{name}/bits': { kinds: { name: 'buildpack' }, body: 'tarball', answers: ['200', '201', '413'] },
  'GET /v1/deas': {},
  'GET /v1/nodes': {},
  'DELETE /v1/nodes/{id}': {},
  'GET /v1/nodes/tokens': {},
  'POST /v1/nodes/tokens': { body: bodies.NewJoinToken, answers: ['201'] },
  'DELETE /v1/nodes/tokens/{id}': {},
  'POST /v1/nodes/join': { open: true, body: bodies.JoinRequest, answers: ['201', '400', '401', '409', '422', '503'], answer: answers.JoinAnswer },
  'GET /v1/routes': {},
  'GET /v1/domains': {},
  'POST /v1/domains': { body: bodies.NewDomain, answers: ['201'] },
  'DELETE /v1/domains/{name}': { kinds: { name: 'domain' } },
  'PUT /v1/domains/{name}/owners/{user}': { kinds: { name: 'domain' } },
  'DELETE /v1/domains/{name}/owners/{user}': { kinds: { name: 'domain' } },
  'GET /v1/apps': { answer: z.array(answers.AppView) },
  'GET /v1/apps/{name}': { answer: answers.AppView },
  'PUT /v1/apps/{name}': { body: bodies.AppUpdate, answers: ['200', '201'], answer: answers.AppView },
  'DELETE /v1/apps/{name}': {},
  'PUT /v1/apps/{name}/bits': { body: 'tarball', answers: ['200', '413'] },
  'POST /v1/apps/{name}/start': { answers: ['200', '422'], answer: answers.AppView },
  'POST /v1/apps/{name}/stop': { answer: answers.AppView },
  'POST /v1/apps/{name}/restart': { answer: answers.AppView },
  'GET /v1/apps/{name}/instances': { answer: z.array(answers.InstanceView) },
  'GET /v1/apps/{name}/logs': {
    query: z.object({ instance: z.string().optional(), file: z.enum(['stdout', 'stderr', 'staging']).optional(), tail: z.enum(['true', 'false']).optional(), via: z.enum(['api']).optional() }),
    answers: ['200', '206', '302', '416', '502', '503'],
  },
  'GET /v1/apps/{name}/instances/{index}/files': { query: z.object({ path: z.string().optional(), tail: z.enum(['true', 'false']).optional() }), answers: ['302'] },
  'GET /v1/apps/{name}/instances/{index}/files/{path}': { answers: ['302'] },
  'GET /v1/apps/{name}/events': {},
  'GET /v1/apps/{name}/env': {},
  'PUT /v1/apps/{name}/env': { body: bodies.EnvChanges },
  'GET /v1/apps/{name}/parameters': {},
  'POST /v1/apps/{name}/similar': { body: bodies.Similar, answers: ['201'], answer: answers.AppView },
  'POST /v1/apps/{name}/deploy': { body: bodies.Deploy, answers: ['200', '422'] },
  'GET /v1/apps/{name}/releases': {},
  'POST /v1/apps/{name}/rollback': { body: bodies.Rollback, answer: answers.AppView },
  'POST /v1/apps/{name}/tasks': { body: bodies.TaskCreate, answers: ['202', '503'], answer: answers.TaskView },
  'GET /v1/apps/{name}/tasks': { answer: z.array(answers.TaskView) },
  'GET /v1/apps/{name}/tasks/{sequence}': { answer: answers.TaskView },
  'POST /v1/apps/{name}/tasks/{sequence}/cancel': { answers: ['202'], answer: answers.TaskView },
  'GET /v1/apps/{name}/cron': {},
  'GET /v1/metrics': {},
  'GET /v1/apps/{name}/stats': {},
  'GET /v1/apps/{name}/drains': {},
  'POST /v1/apps/{name}/drains': { body: bodies.Drain, answers: ['200', '201'] },
  'DELETE /v1/apps/{name}/drains': { query: z.object({ url: z.string() }) },
  'GET /v1/apps/{name}/routes/{host}/options': { kinds: { host: 'domain' } },
  'PUT /v1/apps/{name}/routes/{host}/options': { kinds: { host: 'domain' }, body: bodies.RouteOptions },
  'GET /v1/services': {},
  'POST /v1/services': { body: bodies.NewUserProvidedService, answers: ['201'] },
  'GET /v1/services/{service}': {},
  'DELETE /v1/services/{service}': { answers: ['204'] },
  'PUT /v1/apps/{name}/services/{service}': {},
  'DELETE /v1/apps/{name}/services/{service}': {},
  'GET /v1/certs': {},
  'POST /v1/certs': { body: bodies.NewCertificate, answers: ['200', '201', '503'] },
  'DELETE /v1/certs/{domain}': { answers: ['204'] },
  'GET /v1/apps/{name}/tasks/{sequence}/logs': { query: z.object({ file: z.enum(['stdout', 'stderr']).optional(), tail: z.enum(['true', 'false']).optional() }), answers: ['302', '503'] },
};

for (const [route, op] of Object.entries(operations)) {
  const [method, path] = route.split(' ') as [string, string];
  const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  const pathParams = names.length ? z.object(Object.fromEntries(names.map((n) => [n, params[op.kinds?.[n] ?? (n as Param)]]))) : undefined;
  const config: RouteConfig = {
    method: method.toLowerCase() as RouteConfig['method'],
    path,
    security: op.open ? [] : [{ bearer: [] }],
    request: {
      params: pathParams,
      query: op.query,
      body: op.body === 'tarball' ? tarball : op.body ? { content: { 'application/json': { schema: op.body } }, required: true } : undefined,
    },
    responses: Object.fromEntries([
      ...(op.answers ?? ['200']).map((code) => [
        code,
        Number(code) >= 400
          ? error
          : { description: 'ok', ...(op.answer && code.startsWith('2') ? { content: { 'application/json': { schema: op.answer } } } : {}) },
      ]),
      ...(op.open ? [] : ['400', '401', '403', '404', '409'].map((code) => [code, error])),
    ]),
  };
  registry.registerPath(config);
}

export const openapi = new OpenApiGeneratorV31(registry.definitions).generateDocument({
  openapi: '3.1.0',
  info: { title: 'nap', version: '1' },
  security: [{ bearer: [] }],
});
