import { readFile } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Settings } from './settings.js';

/**
 * An HTTP server for one of nap's programs, listening on `port` at `host`: over TLS with the
 * node's certificate when it has one (a node of a cluster, reached from other hosts; its URL in
 * the settings says https), plain on a node alone.
 */
export async function listenHttp(handler: RequestListener, at: { port: number; host: string; tls: Settings['tls'] }): Promise<Server> {
  const server =
    at.tls?.cert && at.tls.key
      ? createTlsServer({ cert: await readFile(at.tls.cert), key: await readFile(at.tls.key), minVersion: 'TLSv1.2' }, handler)
      : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
