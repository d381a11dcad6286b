import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the app is told about the request's way in; the same on every try of a request. */
export interface Forwarded {
  forwardedFor: string | undefined;
  forwardedProto: string;
  forwardedHost: string | undefined;
  /** Shared by the app, the router's access log and the client (on errors). */
  requestId: string;
}

/**
 * Settles the forwarding headers once per request, before the first try, so a retried request
 * names the client once. The request's headers are left as they came: adding properties to
 * Node's header object on every request costs more than the rest of this.
 */
export function settleForwarded(req: IncomingMessage, into: Forwarded): void {
  const headers = req.headers;
  const client = req.socket.remoteAddress;
  const prior = single(headers['x-forwarded-for']);
  into.forwardedFor = client === undefined ? prior : prior === undefined ? client : `${prior}, ${client}`;
  // Kept when present: a load balancer in front of the router terminates TLS and says so.
  into.forwardedProto = single(headers['x-forwarded-proto']) ?? ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
  into.forwardedHost = single(headers['x-forwarded-host']) ?? headers.host;
  into.requestId = requestId(headers['x-vcap-request-id'], headers['x-request-id']);
}

/** Node joins repeated headers into one string, except a few it keeps as lists. */
function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The same, written into the request's headers (for an upgrade, which http-proxy sends on); returns the request id. */
export function addForwardedHeaders(req: IncomingMessage): string {
  const f: Forwarded = { forwardedFor: undefined, forwardedProto: 'http', forwardedHost: undefined, requestId: '' };
  settleForwarded(req, f);
  const headers = req.headers;
  if (f.forwardedFor !== undefined) headers['x-forwarded-for'] = f.forwardedFor;
  headers['x-forwarded-proto'] = f.forwardedProto;
  if (f.forwardedHost !== undefined) headers['x-forwarded-host'] = f.forwardedHost;
  headers['x-request-id'] = f.requestId;
  headers['x-vcap-request-id'] = f.requestId;
  return f.requestId;
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
