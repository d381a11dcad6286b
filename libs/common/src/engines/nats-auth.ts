import bcrypt from 'bcryptjs';
import { BLOB_BUCKET } from '../blobstore.js';
import { subjects } from '../bus/subjects.js';
import { ENGINE_CLIENTS, type EngineClient, type EngineCredentials } from './credentials.js';

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
  /** May answer a request it received (one reply each), without publish rights on inboxes. */
  allowResponses?: boolean;
}

export interface NatsUser {
  user: string;
  /** Plain, or a bcrypt hash (nats-server tells them apart by the `$2…$` prefix). */
  password: string;
  /** Without it the user may publish and subscribe to anything. */
  permissions?: NatsPermissions;
}

// Replies to requests and JetStream deliveries (ordered consumers of the object store) come on inboxes.
const INBOXES = '_INBOX.>';

/**
 * The blobstore is a JetStream object store (libs/common/src/blobstore.ts): its API on the one
 * bucket's stream, its chunk and meta subjects, and the flow-control replies of ordered consumers.
 * Nothing of any other stream.
 */
const stream = `OBJ_${BLOB_BUCKET}`;
const BLOBSTORE = [
  '$JS.API.INFO',
  // Looked up by name when the bucket is opened.
  '$JS.API.STREAM.NAMES',
  `$JS.API.*.*.${stream}`,
  `$JS.API.*.*.${stream}.>`,
  `$JS.API.*.*.*.${stream}`,
  `$JS.API.DIRECT.GET.${stream}.>`,
  `$O.${BLOB_BUCKET}.>`,
  '$JS.FC.>',
];

const wildcardId = '*';

/**
 * Who may say what on the bus (CONTRACT §4). Only DEAs announce routes, advertise and report exits;
 * only the controller starts and stops instances and staging; routers only ask DEAs to register.
 * The controller also withdraws the routes of a DEA that died (its lease expired) so routers need
 * not wait for their prune. Subscriptions are as narrow: a start message carries an app's env, and
 * only DEAs receive it.
 */
export const NATS_PERMISSIONS: Record<EngineClient, NatsPermissions> = {
  controller: {
    publish: [
      subjects.deaStart(wildcardId),
      subjects.stagingStart(wildcardId),
      subjects.deaStop,
      subjects.deaTask(wildcardId),
      subjects.taskCancel,
      subjects.deaSsh(wildcardId),
      subjects.sshIn(wildcardId),
      subjects.deaLocate,
      subjects.routerUnregister,
      ...BLOBSTORE,
    ],
    subscribe: [subjects.deaAdvertise, subjects.dropletExited, subjects.drainDropped, subjects.sshOut(wildcardId), subjects.routerAppStats, INBOXES],
  },
  dea: {
    publish: [
      subjects.routerRegister,
      subjects.routerUnregister,
      subjects.routerGreet,
      subjects.deaAdvertise,
      subjects.dropletExited,
      subjects.drainDropped,
      subjects.sshOut(wildcardId),
      // Staging answers twice (accepted, then the result), more than allow_responses' one reply.
      INBOXES,
      ...BLOBSTORE,
    ],
    subscribe: [
      subjects.deaStart(wildcardId),
      subjects.stagingStart(wildcardId),
      subjects.deaStop,
      subjects.deaTask(wildcardId),
      subjects.taskCancel,
      subjects.deaSsh(wildcardId),
      subjects.sshIn(wildcardId),
      subjects.deaLocate,
      subjects.routerStart,
      INBOXES,
    ],
  },
  router: {
    publish: [subjects.routerStart, subjects.routerAppStats],
    subscribe: [subjects.routerRegister, subjects.routerUnregister, subjects.routerGreet],
    // The answer to a DEA's router.greet.
    allowResponses: true,
  },
};

/**
 * Cost 10: nats-server checks the hash on every connect, and a platform's clients connect a
 * handful of times; the passwords are 256 random bits, so the cost guards nothing but time.
 */
const BCRYPT_COST = 10;

/** The platform's NATS users, with bcrypt hashes: the plain passwords stay in the secret files and the services' env. */
export function natsUsersOf(creds: EngineCredentials): NatsUser[] {
  return ENGINE_CLIENTS.map((c) => ({ user: c, password: bcrypt.hashSync(creds.nats[c], BCRYPT_COST), permissions: NATS_PERMISSIONS[c] }));
}

function list(items: string[]): string {
  return `[${items.map((s) => JSON.stringify(s)).join(', ')}]`;
}

/** The `authorization` block of a nats-server config. Quoted strings: a `$` in one is not a variable. */
export function natsAuthorizationBlock(users: NatsUser[]): string {
  const entries = users.map((u) => {
    const p = u.permissions;
    const permissions = p
      ? `, permissions: { publish: { allow: ${list(p.publish)} }, subscribe: { allow: ${list(p.subscribe)} }${p.allowResponses ? ', allow_responses: true' : ''} }`
      : '';
    return `    { user: ${JSON.stringify(u.user)}, password: ${JSON.stringify(u.password)}${permissions} }`;
  });
  return ['authorization {', '  users: [', ...entries, '  ]', '}'].join('\n');
}
