/**
 * The REST API (CONTRACT §2) as OpenAPI 3.1, served at GET /v1/openapi.json. Tests walk it and
 * send every operation malformed input, so an endpoint missing here is an endpoint not tested.
 */
const appName = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' } };
const buildpackName = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,40}$' } };
const domainName = { name: 'name', in: 'path', required: true, schema: { type: 'string', maxLength: 253 } };
const userName = { name: 'user', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' } };
const index = { name: 'index', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } };
const error = { description: 'an error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
const json = (schema: object) => ({ required: true, content: { 'application/json': { schema } } });
const ok = { description: 'ok' };
const errors = { '400': error, '401': error, '403': error, '404': error, '409': error };

const size = { oneOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^\\d+\\s*(m|mb|g|gb)?$' }] };
const healthCheck = {
  type: 'object',
  additionalProperties: false,
  properties: { type: { enum: ['port', 'http', 'process'] }, endpoint: { type: 'string', pattern: '^/' }, timeout_s: { type: 'integer', minimum: 1, maximum: 600 } },
};

export const openapi = {
  openapi: '3.1.0',
  info: { title: 'nap', version: '1' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
      AppUpdate: {
        type: 'object',
        additionalProperties: false,
        properties: {
          instances: { type: 'integer', minimum: 0, maximum: 1000 },
          memory: size,
          disk: size,
          command: { type: ['string', 'null'], minLength: 1, maxLength: 8192 },
          buildpack: { type: ['string', 'null'], minLength: 1, maxLength: 1024 },
          env: { type: 'object', additionalProperties: { type: 'string', maxLength: 65536 } },
          routes: { type: 'array', maxItems: 100, items: { type: 'string' } },
          health_check: healthCheck,
          stack: { enum: ['bookworm'] },
          processes: {
            type: 'object',
            maxProperties: 20,
            propertyNames: { pattern: '^[a-z][a-z0-9_-]{0,29}$' },
            additionalProperties: {
              type: 'object',
              additionalProperties: false,
              properties: {
                instances: { type: 'integer', minimum: 0, maximum: 1000 },
                memory: size,
                command: { type: ['string', 'null'], minLength: 1, maxLength: 8192 },
              },
            },
          },
        },
      },
      EnvChanges: { type: 'object', additionalProperties: { type: ['string', 'null'], maxLength: 65536 } },
      Similar: { type: 'object', additionalProperties: false, properties: { name: { type: 'string' }, params: { type: 'object', additionalProperties: { type: 'string', maxLength: 4096 } } } },
      Rollback: { type: 'object', additionalProperties: false, required: ['version'], properties: { version: { oneOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^v?\\d+$' }] } } },
      Deploy: { type: 'object', additionalProperties: false, required: ['git_url'], properties: { git_url: { type: 'string', maxLength: 2048 }, ref: { type: 'string', maxLength: 200 } } },
      NewBuildpack: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'url'],
        properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,40}$' }, url: { type: 'string', maxLength: 2048 }, position: { type: 'integer', minimum: 0 } },
      },
      NewDomain: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: { name: { type: 'string', maxLength: 253 }, owners: { type: 'array', maxItems: 100, items: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' } } },
      },
      NewUser: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string' }, role: { enum: ['admin', 'developer'] } } },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/healthz': { get: { security: [], responses: { '200': ok, '503': error } } },
    '/v1/info': { get: { security: [], responses: { '200': ok } } },
    '/v1/openapi.json': { get: { security: [], responses: { '200': ok } } },
    '/v1/whoami': { get: { responses: { '200': ok, ...errors } } },
    '/v1/users': {
      get: { responses: { '200': ok, ...errors } },
      post: { requestBody: json({ $ref: '#/components/schemas/NewUser' }), responses: { '201': ok, ...errors } },
    },
    '/v1/users/{name}/quota': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' } }],
      get: { responses: { '200': ok, ...errors } },
      put: {
        requestBody: json({
          type: 'object',
          additionalProperties: false,
          properties: { apps: { type: 'integer', minimum: 0 }, instances: { type: 'integer', minimum: 0 }, memory_mb: size },
        }),
        responses: { '200': ok, ...errors },
      },
    },
    '/v1/buildpacks': {
      get: { responses: { '200': ok, ...errors } },
      post: { requestBody: json({ $ref: '#/components/schemas/NewBuildpack' }), responses: { '201': ok, ...errors } },
    },
    '/v1/buildpacks/{name}': { parameters: [buildpackName], delete: { responses: { '200': ok, ...errors } } },
    '/v1/buildpacks/{name}/bits': {
      parameters: [buildpackName],
      put: { requestBody: { required: true, content: { 'application/gzip': { schema: { type: 'string', format: 'binary' } } } }, responses: { '200': ok, '201': ok, '413': error, ...errors } },
    },
    '/v1/deas': { get: { responses: { '200': ok, ...errors } } },
    '/v1/routes': { get: { responses: { '200': ok, ...errors } } },
    '/v1/domains': {
      get: { responses: { '200': ok, ...errors } },
      post: { requestBody: json({ $ref: '#/components/schemas/NewDomain' }), responses: { '201': ok, ...errors } },
    },
    '/v1/domains/{name}': { parameters: [domainName], delete: { responses: { '200': ok, ...errors } } },
    '/v1/domains/{name}/owners/{user}': {
      parameters: [domainName, userName],
      put: { responses: { '200': ok, ...errors } },
      delete: { responses: { '200': ok, ...errors } },
    },
    '/v1/apps': { get: { responses: { '200': ok, ...errors } } },
    '/v1/apps/{name}': {
      parameters: [appName],
      get: { responses: { '200': ok, ...errors } },
      put: { requestBody: json({ $ref: '#/components/schemas/AppUpdate' }), responses: { '200': ok, '201': ok, ...errors } },
      delete: { responses: { '200': ok, ...errors } },
    },
    '/v1/apps/{name}/bits': {
      parameters: [appName],
      put: { requestBody: { required: true, content: { 'application/gzip': { schema: { type: 'string', format: 'binary' } } } }, responses: { '200': ok, '413': error, ...errors } },
    },
    '/v1/apps/{name}/start': { parameters: [appName], post: { responses: { '200': ok, '422': error, ...errors } } },
    '/v1/apps/{name}/stop': { parameters: [appName], post: { responses: { '200': ok, ...errors } } },
    '/v1/apps/{name}/restart': { parameters: [appName], post: { responses: { '200': ok, ...errors } } },
    '/v1/apps/{name}/instances': { parameters: [appName], get: { responses: { '200': ok, ...errors } } },
    '/v1/apps/{name}/logs': {
      parameters: [
        appName,
        { name: 'instance', in: 'query', schema: { type: 'string' } },
        { name: 'file', in: 'query', schema: { enum: ['stdout', 'stderr', 'staging'] } },
        { name: 'tail', in: 'query', schema: { enum: ['true', 'false'] } },
      ],
      get: { responses: { '302': ok, ...errors } },
    },
    '/v1/apps/{name}/instances/{index}/files': { parameters: [appName, index, { name: 'path', in: 'query', schema: { type: 'string' } }, { name: 'tail', in: 'query', schema: { enum: ['true', 'false'] } }], get: { responses: { '302': ok, ...errors } } },
    '/v1/apps/{name}/instances/{index}/files/{path}': { parameters: [appName, index, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }], get: { responses: { '302': ok, ...errors } } },
    '/v1/apps/{name}/events': { parameters: [appName], get: { responses: { '200': ok, ...errors } } },
    '/v1/apps/{name}/env': {
      parameters: [appName],
      get: { responses: { '200': ok, ...errors } },
      put: { requestBody: json({ $ref: '#/components/schemas/EnvChanges' }), responses: { '200': ok, ...errors } },
    },
    '/v1/apps/{name}/parameters': { parameters: [appName], get: { responses: { '200': ok, ...errors } } },
    '/v1/apps/{name}/similar': { parameters: [appName], post: { requestBody: json({ $ref: '#/components/schemas/Similar' }), responses: { '201': ok, ...errors } } },
    '/v1/apps/{name}/deploy': { parameters: [appName], post: { requestBody: json({ $ref: '#/components/schemas/Deploy' }), responses: { '200': ok, '422': error, ...errors } } },
    '/v1/apps/{name}/releases': { parameters: [appName], get: { responses: { '200': ok, ...errors } } },
    '/v1/apps/{name}/rollback': { parameters: [appName], post: { requestBody: json({ $ref: '#/components/schemas/Rollback' }), responses: { '200': ok, ...errors } } },
  },
} as const;
