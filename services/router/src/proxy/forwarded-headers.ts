import { randomUUID } from 'node:crypto';
import type { RequestHead } from '../http1/request-parser.js';

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
 * names the client once. `client` is the address of the client's connection; `secure`, whether it
 * came over the router's TLS port.
 */
export function settleForwarded(head: RequestHead, client: string | undefined, into: Forwarded, secure: boolean): void {
  const prior = head.forwardedFor;
  into.forwardedFor = client === undefined ? prior : prior === undefined ? client : `${prior}, ${client}`;
  // Over the router's own TLS it is https, whatever the client says. On the plain port a client's
  // value is kept: a load balancer in front of the router terminates TLS and says so.
  into.forwardedProto = secure ? 'https' : (head.forwardedProto ?? 'http');
  into.forwardedHost = head.forwardedHost ?? head.host;
  into.requestId = requestId(head.vcapRequestId, head.requestId);
}

/**
 * The client's id when it is a well-formed uuid (a load balancer in front, or a client tracing
 * its own requests), else a new one: anything else could be used to forge log lines.
 */
function requestId(vcap: string | undefined, plain: string | undefined): string {
  if (vcap !== undefined && uuid.test(vcap)) return vcap.toLowerCase();
  if (plain !== undefined && uuid.test(plain)) return plain.toLowerCase();
  return randomUUID();
}
