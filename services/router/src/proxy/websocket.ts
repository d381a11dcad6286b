import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '@nap/common';
import httpProxy from 'http-proxy';
import type { AccessLog } from '../accesslog/access-log.js';
import { stickyInstanceId } from '../balancing/sticky.js';
import { admit, pickEndpoint } from './admission.js';
import type { BalancingStrategy } from '../balancing/strategy.js';
import type { RouterError, RouterMetrics } from '../status/metrics.js';
import type { Address, Endpoint } from '../table/endpoint.js';
import type { RouteTable } from '../table/route-table.js';
import { isDialFailure } from './retry-policy.js';
import { destroySoon, endWithError, errorStatus } from './router-errors.js';
import { armConnectTimeout } from './upstream.js';

export interface WebsocketOptions {
  maxConnsPerInstance: number;
  maxInFlight: number;
  connectTimeoutMs: number;
  /** The app must answer the upgrade within this. */
  handshakeTimeoutMs: number;
  accessLog?: AccessLog;
}

/** One websocket through the router, from the upgrade request to the close of the client's socket. */
interface Tunnel {
  t0: number;
  tSent: number;
  tFirst: number;
  method: string | undefined;
  host: string | undefined;
  path: string | undefined;
  requestId: string;
  endpoint: Endpoint | undefined;
  status: number;
  error: RouterError | undefined;
  upgraded: boolean;
  failed: boolean;
  proxyReq: ClientRequest | undefined;
  proxySocket: Socket | undefined;
  handshakeTimer: NodeJS.Timeout | undefined;
}

/**
 * Upgrades proxied both ways with http-proxy's `ws`, routed like any request (sticky sessions
 * included). No request is retried: http-proxy ends the client's socket after the first failure.
 *
 * Nothing here may throw out of the process. Node removes its own error listener from a socket it
 * hands to 'upgrade', and http-proxy adds one only once the app has accepted, so a client that
 * resets during the handshake would crash an unguarded process: the first thing done with every
 * socket is to give it an error listener, and the app's socket gets one the moment it exists.
 */
export class WebsocketProxy {
  /** No keep-alive: an upgraded socket leaves the agent for good anyway. */
  private readonly agent = new http.Agent({ keepAlive: false });
  private readonly proxy: httpProxy;
  private readonly tunnels = new WeakMap<Socket, Tunnel>();
  private readonly open = new Set<Socket>();

  constructor(
    private readonly table: RouteTable,
    private readonly balancing: BalancingStrategy,
    private readonly log: Logger,
    private readonly metrics: RouterMetrics,
    private readonly opts: WebsocketOptions,
  ) {
    this.proxy = httpProxy.createProxyServer({ agent: this.agent, xfwd: false, toProxy: true, prependPath: false });
    this.proxy.on('error', (err) => this.log.debug({ err }, 'websocket proxy error'));
    this.proxy.on('proxyReqWs', (proxyReq: ClientRequest, _req: IncomingMessage, socket: Socket) => this.onProxyReq(proxyReq, socket));
  }

  /** `req` carries the forwarding headers already; `requestId` is the one they name. */
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, requestId: string): void {
    socket.on('error', ignore);
    const tunnel: Tunnel = {
      t0: performance.now(),
      tSent: 0,
      tFirst: 0,
      method: req.method,
      host: req.headers.host,
      path: req.url,
      requestId: '',
      endpoint: undefined,
      status: 0,
      error: undefined,
      upgraded: false,
      failed: false,
      proxyReq: undefined,
      proxySocket: undefined,
      handshakeTimer: undefined,
    };
    this.open.add(socket);
    socket.once('close', () => this.onClientClose(socket, tunnel));

    const admission = admit(this.table, req.headers.host, this.metrics.inFlight, this.opts.maxInFlight);
    if ('refused' in admission) return this.refuse(socket, tunnel, admission.refused, admission.host);
    tunnel.requestId = requestId;
    const endpoint = pickEndpoint(admission.pool, this.balancing, this.opts.maxConnsPerInstance, stickyInstanceId(req.headers.cookie));
    if (endpoint === undefined) return this.refuse(socket, tunnel, 'no_endpoints');
    tunnel.endpoint = endpoint;
    this.tunnels.set(socket, tunnel);
    this.proxy.ws(req, socket, head, endpoint.address.proxyOptions, (err: Error) => this.onError(err as NodeJS.ErrnoException, socket, tunnel));
    if (socket.destroyed || tunnel.failed) return;
    // A client that gives up during the handshake sends a FIN nobody would read until the app
    // answers (never, for a hung app): read the socket meanwhile, hold back what comes, and close
    // both sides on its end. What was held goes back into the socket before the tunnel opens.
    socket.on('data', onEarlyData);
    socket.once('end', onEarlyEnd);
    tunnel.handshakeTimer = setTimeout(() => {
      this.log.warn({ requestId: tunnel.requestId, endpoint: endpoint.address.key }, 'websocket upgrade not answered in time');
      if (socket.bytesWritten === 0) {
        this.count(tunnel, 'timeout');
        endWithError(socket, 'timeout', undefined, tunnel.requestId);
      } else {
        socket.destroy();
      }
      tunnel.proxyReq?.destroy();
    }, this.opts.handshakeTimeoutMs);
    tunnel.handshakeTimer.unref();
  }

  close(): void {
    for (const socket of this.open) socket.destroy();
    this.agent.destroy();
  }

  /**
   * Closes the websockets to an instance that is lost (its host died or was cut off): nothing
   * would come from it again, and no reset would ever say so, so its clients would wait for
   * good instead of connecting again (to an instance that answers). Returns how many.
   */
  abandon(address: Address): number {
    let closed = 0;
    for (const socket of this.open) {
      const tunnel = this.tunnels.get(socket);
      if (tunnel?.endpoint?.address !== address) continue;
      tunnel.proxySocket?.destroy();
      tunnel.proxyReq?.destroy();
      socket.destroy();
      closed++;
    }
    return closed;
  }

  private onProxyReq(proxyReq: ClientRequest, socket: Socket): void {
    const tunnel = this.tunnels.get(socket);
    if (tunnel === undefined || socket.destroyed) {
      proxyReq.destroy();
      return;
    }
    tunnel.proxyReq = proxyReq;
    tunnel.tSent = performance.now();
    proxyReq.on('error', ignore);
    proxyReq.once('socket', (s: Socket) => armConnectTimeout(proxyReq, s, this.opts.connectTimeoutMs));
    proxyReq.once('response', (res: IncomingMessage) => {
      // The app refused the upgrade; http-proxy passes its answer on as it is.
      clearTimeout(tunnel.handshakeTimer);
      tunnel.tFirst = performance.now();
      tunnel.status = res.statusCode ?? 0;
    });
    // Registered before http-proxy's own 'upgrade' listener, so this runs before it pipes the sockets.
    proxyReq.once('upgrade', (_res: IncomingMessage, proxySocket: Socket) => {
      clearTimeout(tunnel.handshakeTimer);
      socket.off('data', onEarlyData);
      socket.off('end', onEarlyEnd);
      socket.pause();
      const early = earlyData.get(socket);
      if (early !== undefined) {
        earlyData.delete(socket);
        socket.unshift(early.length === 1 ? early[0] : Buffer.concat(early));
      }
      tunnel.tFirst = performance.now();
      tunnel.status = 101;
      tunnel.upgraded = true;
      tunnel.proxySocket = proxySocket;
      this.metrics.websocketsOpen++;
      this.metrics.websocketsTotal++;
      proxySocket.on('error', ignore);
      // The app went away (killed, crashed): the client sees its socket close, cleanly.
      proxySocket.once('close', () => destroySoon(socket));
      if (socket.destroyed) proxySocket.destroy();
    });
  }

  /** http-proxy calls this for a failed connection to the app, and again for errors on an open tunnel. */
  private onError(err: NodeJS.ErrnoException, socket: Socket, tunnel: Tunnel): void {
    if (tunnel.upgraded) {
      this.log.debug({ err, requestId: tunnel.requestId }, 'websocket to the app failed');
      destroySoon(socket);
      return;
    }
    if (tunnel.failed) return;
    tunnel.failed = true;
    const endpoint = tunnel.endpoint;
    if (endpoint !== undefined && isDialFailure(err)) endpoint.address.failing = true;
    this.log.warn({ requestId: tunnel.requestId, endpoint: endpoint?.address.key, code: err.code }, 'websocket upgrade failed');
    // Nothing of the app's reached the client yet: there is still room for a proper answer.
    if (socket.bytesWritten === 0) {
      this.count(tunnel, 'endpoint_failure');
      endWithError(socket, 'endpoint_failure', undefined, tunnel.requestId);
    } else {
      destroySoon(socket);
    }
  }

  private refuse(socket: Socket, tunnel: Tunnel, code: RouterError, host?: string): void {
    this.count(tunnel, code);
    endWithError(socket, code, host, tunnel.requestId || undefined);
  }

  private count(tunnel: Tunnel, code: RouterError): void {
    tunnel.error = code;
    tunnel.status = errorStatus[code];
    this.metrics.errors[code]++;
  }

  private onClientClose(socket: Socket, tunnel: Tunnel): void {
    this.open.delete(socket);
    clearTimeout(tunnel.handshakeTimer);
    if (tunnel.proxySocket !== undefined) destroySoon(tunnel.proxySocket);
    else tunnel.proxyReq?.destroy();
    if (tunnel.upgraded) this.metrics.websocketsOpen--;
    const status = tunnel.status || 499;
    const bytesIn = socket.bytesRead;
    const bytesOut = socket.bytesWritten;
    this.metrics.recordWebsocket(status, bytesIn, bytesOut);
    const accessLog = this.opts.accessLog;
    if (accessLog === undefined) return;
    const totalMs = performance.now() - tunnel.t0;
    accessLog.write({
      method: tunnel.method,
      host: tunnel.host,
      path: tunnel.path,
      status,
      bytesIn,
      bytesOut,
      totalMs,
      appMs: tunnel.tFirst > 0 && tunnel.tSent > 0 ? tunnel.tFirst - tunnel.tSent : 0,
      endpoint: tunnel.endpoint?.address.key,
      requestId: tunnel.requestId,
      attempts: tunnel.endpoint === undefined ? 0 : 1,
      error: tunnel.error,
    });
  }
}

function ignore(): void {}

/** Bytes a client sent before its upgrade was answered, by socket. */
const earlyData = new WeakMap<Socket, Buffer[]>();

function onEarlyData(this: Socket, chunk: Buffer): void {
  const held = earlyData.get(this);
  if (held === undefined) earlyData.set(this, [chunk]);
  else held.push(chunk);
}

function onEarlyEnd(this: Socket): void {
  this.destroy();
}
