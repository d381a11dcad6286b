import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { settleForwarded, type Forwarded } from './forwarded-headers.js';
import type { RequestHead } from '../http1/request-parser.js';

/**
 * The request line and headers as they go to the app: the client's header lines in their order
 * and spelling, less hop-by-hop, framing and forwarding ones (the parser left those out), then the
 * forwarding headers and the body's framing. `url` is in origin form.
 */
export function upstreamRequestHead(head: RequestHead, url: string, f: Forwarded): string {
  let text = `${head.method} ${url} HTTP/1.1\r\n${head.forwardLines}`;
  if (f.forwardedFor !== undefined) text += `X-Forwarded-For: ${f.forwardedFor}\r\n`;
  text += `X-Forwarded-Proto: ${f.forwardedProto}\r\n`;
  if (f.forwardedHost !== undefined) text += `X-Forwarded-Host: ${f.forwardedHost}\r\n`;
  text += `X-Request-Id: ${f.requestId}\r\nX-Vcap-Request-Id: ${f.requestId}\r\n`;
  if (head.chunked) text += 'Transfer-Encoding: chunked\r\n';
  return `${text}\r\n`;
}

const forwardingHeaders = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'x-vcap-request-id']);

/**
 * An upgrade request in the shape http-proxy's websocket pass reads (method, url, headers by
 * lowercase name, the socket), with the forwarding headers settled as for any request.
 */
export function upgradeRequest(head: RequestHead, socket: Socket, client: string | undefined, secure: boolean): { req: IncomingMessage; requestId: string } {
  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  const lines = head.lines;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const lower = name.toLowerCase();
    if (forwardingHeaders.has(lower)) continue;
    const value = line.slice(colon + 1).trim();
    rawHeaders.push(name, value);
    // Own properties only (`constructor` is in any object); cookies are joined as cookies, as Node does.
    if (!Object.hasOwn(headers, lower)) headers[lower] = value;
    else headers[lower] += lower === 'cookie' ? `; ${value}` : `, ${value}`;
  }
  const f: Forwarded = { forwardedFor: undefined, forwardedProto: 'http', forwardedHost: undefined, requestId: '' };
  settleForwarded(head, client, f, secure);
  if (f.forwardedFor !== undefined) headers['x-forwarded-for'] = f.forwardedFor;
  headers['x-forwarded-proto'] = f.forwardedProto;
  if (f.forwardedHost !== undefined) headers['x-forwarded-host'] = f.forwardedHost;
  headers['x-request-id'] = f.requestId;
  headers['x-vcap-request-id'] = f.requestId;
  const req = {
    method: head.method,
    url: head.url,
    httpVersion: '1.1',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    headers,
    rawHeaders,
    socket,
    connection: socket,
  } as unknown as IncomingMessage;
  return { req, requestId: f.requestId };
}
