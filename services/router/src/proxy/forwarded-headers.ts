import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/**
 * Set once per request, before the first attempt: http-proxy's own `xfwd` appends to
 * X-Forwarded-For on every call of web(), so a retried request would name the client twice.
 * Returns the request id, which the backend and the router's logs share.
 */
export function addForwardedHeaders(req: IncomingMessage): string {
  const client = req.socket.remoteAddress;
  if (client) {
    const prior = req.headers['x-forwarded-for'];
    req.headers['x-forwarded-for'] = prior ? `${prior}, ${client}` : client;
  }
  // Kept when present: a load balancer in front of the router terminates TLS and says so.
  if (!req.headers['x-forwarded-proto']) {
    req.headers['x-forwarded-proto'] = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
  }
  // Always replaced: a client-chosen id could collide with another request's in the logs.
  const id = randomUUID();
  req.headers['x-request-id'] = id;
  return id;
}
