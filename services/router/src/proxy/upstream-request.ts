import type { IncomingMessage } from 'node:http';
import type { Forwarded } from './forwarded-headers.js';

/**
 * Headers that never go to the app as the client sent them: hop-by-hop ones (about the client's
 * connection to the router), the request's framing (the router frames the body itself), and the
 * forwarding headers, which settleForwarded() has settled. By length first: most headers a client
 * sends have a length no name here has, and need no lowercasing.
 */
const notForwardedByLength = byLength([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Node has already answered `100 Continue` to the client; the app must not answer it again.
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'x-vcap-request-id',
]);

function byLength(names: string[]): ReadonlyMap<number, ReadonlySet<string>> {
  const map = new Map<number, Set<string>>();
  for (const name of names) {
    let set = map.get(name.length);
    if (set === undefined) map.set(name.length, (set = new Set()));
    set.add(name);
  }
  return map;
}

/** Whether the request has a body, and how the router sends it on. */
export const enum BodyFraming {
  None,
  Length,
  Chunked,
}

export function bodyFraming(req: IncomingMessage): BodyFraming {
  const headers = req.headers;
  // llhttp has refused requests with both, and chunked not last, so this is all there is.
  if (headers['transfer-encoding'] !== undefined) return BodyFraming.Chunked;
  const length = headers['content-length'];
  return length === undefined || length === '0' ? BodyFraming.None : BodyFraming.Length;
}

/**
 * The request line and headers as they go to the app: the client's headers in their order and
 * spelling, less the ones above and any the client's Connection header names, then the forwarding
 * headers. `url` is in origin form.
 */
export function upstreamRequestHead(req: IncomingMessage, url: string, framing: BodyFraming, f: Forwarded): string {
  const connection = req.headers.connection;
  const listed = connection !== undefined ? connectionListed(connection) : undefined;
  let head = `${req.method} ${url} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const names = notForwardedByLength.get(name.length);
    if (names !== undefined || listed !== undefined) {
      const lower = name.toLowerCase();
      if (names?.has(lower) === true || listed?.has(lower) === true) continue;
    }
    head += `${name}: ${raw[i + 1]}\r\n`;
  }
  if (f.forwardedFor !== undefined) head += `X-Forwarded-For: ${f.forwardedFor}\r\n`;
  head += `X-Forwarded-Proto: ${f.forwardedProto}\r\n`;
  if (f.forwardedHost !== undefined) head += `X-Forwarded-Host: ${f.forwardedHost}\r\n`;
  head += `X-Request-Id: ${f.requestId}\r\nX-Vcap-Request-Id: ${f.requestId}\r\n`;
  if (framing === BodyFraming.Chunked) head += 'Transfer-Encoding: chunked\r\n';
  return `${head}\r\n`;
}

function connectionListed(value: string | string[]): Set<string> {
  const set = new Set<string>();
  for (const token of String(value).split(',')) {
    const name = token.trim().toLowerCase();
    // `Connection: host` must not strip the Host header.
    if (name !== '' && name !== 'host') set.add(name);
  }
  return set;
}
