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

/**
 * An answer written straight onto a raw socket (a websocket upgrade that cannot be proxied), after
 * which the socket is ended, and destroyed if the client does not close its side soon.
 */
export function endWithError(socket: Socket, code: RouterError, host?: string, requestId?: string): void {
  if (socket.destroyed) return;
  const status = errorStatus[code];
  const body = errorBody(code, host);
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Nap-Router-Error: ${code}\r\n` +
        (requestId ? `X-Vcap-Request-Id: ${requestId}\r\n` : '') +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  destroySoon(socket);
}

/** Ends the socket and makes sure it is gone within a second even if the peer never closes its side. */
export function destroySoon(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  setTimeout(() => socket.destroy(), 1000).unref();
}
