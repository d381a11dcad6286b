import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A connection to an instance that is neither refused nor accepted (a host gone from the network)
 * would otherwise wait for the kernel's connect timeout, minutes. Armed only on new connections:
 * a reused keep-alive socket costs nothing here.
 */
export function armConnectTimeout(proxyReq: ClientRequest, socket: Socket, ms: number): void {
  if (!socket.connecting) return;
  const timer = setTimeout(() => {
    const err: NodeJS.ErrnoException = new Error(`connect timed out after ${ms} ms`);
    err.code = 'ETIMEDOUT';
    proxyReq.destroy(err);
  }, ms);
  timer.unref();
  const clear = () => clearTimeout(timer);
  socket.once('connect', clear);
  socket.once('close', clear);
}
