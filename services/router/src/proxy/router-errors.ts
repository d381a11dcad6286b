import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { RouterError } from '../status/metrics.js';

/** The body of each answer the router makes by itself, gorouter's wording where it has one. */
export function errorBody(code: RouterError, host?: string): string {
  switch (code) {
    case 'empty_host':
      return '400 Bad Request: Request had empty Host header.\n';
    case 'unknown_route':
      return `404 Not Found: Requested route ('${host ?? ''}') does not exist.\n`;
    case 'no_endpoints':
      return '503 Service Unavailable: No endpoint can take the request now.\n';
    case 'endpoint_failure':
      return '502 Bad Gateway: Registered endpoint failed to handle the request.\n';
    case 'timeout':
      return '504 Gateway Timeout: The app did not answer in time.\n';
    case 'overloaded':
      return '503 Service Unavailable: The router is overloaded.\n';
  }
}

export const errorStatus: Record<RouterError, number> = {
  empty_host: 400,
  unknown_route: 404,
  no_endpoints: 503,
  endpoint_failure: 502,
  timeout: 504,
  overloaded: 503,
};

export interface ErrorAnswer {
  status: number;
  body: string;
  /** The router's own reason, in X-Nap-Router-Error; absent for a request it could not even read. */
  code?: RouterError;
  requestId?: string;
  /** The Connection header (and Keep-Alive) lines; `Connection: close` when not given. */
  connection?: string;
  date?: string;
  /** An answer to HEAD has no body, though its Content-Length says how long it would be. */
  headOnly?: boolean;
  /** A redirect's target. */
  location?: string;
}

/** Every answer the router makes by itself, whole, in one shape: status line, headers, body. */
export function errorAnswer(a: ErrorAnswer): Buffer {
  const body = Buffer.from(a.body, 'utf8');
  const head =
    `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? ''}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${body.length}\r\n` +
    (a.code ? `X-Nap-Router-Error: ${a.code}\r\n` : '') +
    (a.location ? `Location: ${a.location}\r\n` : '') +
    (a.requestId ? `X-Vcap-Request-Id: ${a.requestId}\r\n` : '') +
    (a.date ? `Date: ${a.date}\r\n` : '') +
    (a.connection ?? 'Connection: close\r\n') +
    '\r\n';
  return a.headOnly ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/**
 * An answer written straight onto a raw socket (a websocket upgrade that cannot be proxied), after
 * which the socket is ended, and destroyed if the client does not close its side soon.
 */
export function endWithError(socket: Socket, code: RouterError, host?: string, requestId?: string): void {
  if (socket.destroyed) return;
  if (socket.writable) socket.end(errorAnswer({ status: errorStatus[code], body: errorBody(code, host), code, requestId }));
  destroySoon(socket);
}

/** Ends the socket and makes sure it is gone within a second even if the peer never closes its side. */
export function destroySoon(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  setTimeout(() => socket.destroy(), 1000).unref();
}
