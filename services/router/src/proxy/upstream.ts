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

/** Counts an agent's sockets: busy with a request, and idle in its keep-alive pool. */
export function agentSockets(agent: { sockets: NodeJS.ReadOnlyDict<Socket[]>; freeSockets: NodeJS.ReadOnlyDict<Socket[]> }): {
  active: number;
  idle: number;
} {
  let active = 0;
  let idle = 0;
  for (const list of Object.values(agent.sockets)) active += list?.length ?? 0;
  for (const list of Object.values(agent.freeSockets)) idle += list?.length ?? 0;
  return { active, idle };
}
