import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Set once per request, before the first try, so a retried request names the client once. Returns the request id, which the app, the
 * router's access log and the client (on errors) share.
 */
export function addForwardedHeaders(req: IncomingMessage): string {
  const headers = req.headers;
  const client = req.socket.remoteAddress;
  if (client !== undefined) {
    const prior = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior === undefined ? client : `${prior}, ${client}`;
  }
  // Kept when present: a load balancer in front of the router terminates TLS and says so.
  if (headers['x-forwarded-proto'] === undefined) {
    headers['x-forwarded-proto'] = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
  }
  if (headers['x-forwarded-host'] === undefined && headers.host !== undefined) headers['x-forwarded-host'] = headers.host;
  const id = requestId(headers['x-vcap-request-id'], headers['x-request-id']);
  headers['x-request-id'] = id;
  headers['x-vcap-request-id'] = id;
  return id;
}

/**
 * The client's id when it is a well-formed uuid (a load balancer in front, or a client tracing
 * its own requests), else a new one: anything else could be used to forge log lines.
 */
function requestId(vcap: string | string[] | undefined, plain: string | string[] | undefined): string {
  if (typeof vcap === 'string' && uuid.test(vcap)) return vcap.toLowerCase();
  if (typeof plain === 'string' && uuid.test(plain)) return plain.toLowerCase();
  return randomUUID();
}
