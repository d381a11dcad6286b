import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Bus, channels, type Logger, type msg, NapError } from '@nap/common';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AppLifecycle } from '../apps/lifecycle.js';
import type { Caller } from '../auth/bearer.js';
import type { ActualInstancesRepository } from '../store/actual-instances.js';
import type { EventsRepository } from '../store/events-repository.js';

const OPEN_TIMEOUT_MS = 15_000;
/** Bytes from the user go to the DEA in messages of at most this many. */
const IN_CHUNK = 48 * 1024;
/** A user pasting faster than the DEA reads is cut off past this much pending. */
const MAX_BUFFERED = 4 * 1024 * 1024;
const SSH_PATH = /^\/v1\/apps\/([^/]+)\/ssh$/;

export interface SshGatewayDeps {
  authenticate: (token: string) => Promise<Caller | null>;
  lifecycle: AppLifecycle;
  actual: ActualInstancesRepository;
  bus: Bus;
  events: EventsRepository;
  log: Logger;
}

function refuse(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: { message } });
  socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Conflict'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * `nap ssh` (issue 16), Cloud Foundry's cf ssh: a websocket on the API's own address
 * (`GET /v1/apps/:name/ssh?index=I&command=C&tty=1&cols=&rows=`, the bearer token as for the API),
 * allowed to the app's owner and admins unless the owner turned it off (`nap disable-ssh`). Binary
 * frames are the terminal's bytes both ways; text frames are control: `{resize:{cols,rows}}` and
 * `{eof:true}` from the user, `{exit:N}` or `{error}` to them. The DEA running the instance execs
 * the shell; bytes travel between here and there on the bus. Each session is an event `ssh`.
 */
export function attachSshGateway(server: Server, deps: SshGatewayDeps): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://nap');
    const path = SSH_PATH.exec(url.pathname);
    if (!path) return void socket.destroy();
    void (async () => {
      const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const caller = token ? await deps.authenticate(token) : null;
      if (!caller) return refuse(socket, 401, 'missing or invalid token: run `nap login --token TOKEN`');
      const app = await deps.lifecycle.load(decodeURIComponent(path[1]), caller);
      if (app.ssh_enabled === false) return refuse(socket, 403, `ssh is turned off for ${app.name}: its owner can turn it on with nap enable-ssh ${app.name}`);
      const index = Number(url.searchParams.get('index') ?? '0');
      const type = url.searchParams.get('process_type') ?? 'web';
      const instance = (await deps.actual.ofApp(app.id)).find((i) => i.index === index && i.process_type === type && i.state === 'RUNNING' && i.version === app.version)
        ?? (await deps.actual.ofApp(app.id)).find((i) => i.index === index && i.process_type === type && i.state === 'RUNNING');
      if (!instance) return refuse(socket, 409, `${app.name} has no running ${type} instance ${index}: see nap app ${app.name}`);
      const command = url.searchParams.get('command') ?? undefined;
      if (command !== undefined && (command.length === 0 || command.length > 16 * 1024)) return refuse(socket, 409, 'a command is 1 to 16384 characters');
      const size = (name: string, fallback: number) => Math.min(1000, Math.max(1, Number(url.searchParams.get(name)) || fallback));
      wss.handleUpgrade(req, socket, head, (ws) => {
        void session(ws, deps, { appId: app.id, appName: app.name, instanceId: instance.instance_id, deaId: instance.dea_id, index, command, tty: url.searchParams.get('tty') === '1', cols: size('cols', 80), rows: size('rows', 24), caller });
      });
    })().catch((err: unknown) => {
      if (err instanceof NapError) return refuse(socket, err.status, err.message);
      deps.log.warn({ err }, 'ssh upgrade failed');
      socket.destroy();
    });
  });
}

interface SessionPlan {
  appId: string;
  appName: string;
  instanceId: string;
  deaId: string;
  index: number;
  command: string | undefined;
  tty: boolean;
  cols: number;
  rows: number;
  caller: Caller;
}

async function session(ws: WebSocket, deps: SshGatewayDeps, p: SessionPlan): Promise<void> {
  const { bus, log, events } = deps;
  const sessionId = randomUUID();
  const input = channels.sshIn(sessionId);
  let closed = false;
  // What the user sends before the DEA has the session open waits here, so a piped script loses nothing.
  let pending: msg.SshIn[] | null = [];
  const toDea = (m: { data?: string; resize?: { cols: number; rows: number }; eof?: boolean }) => (pending ? pending.push(m) : bus.publish(input, m));
  const finish = (control?: object) => {
    if (closed) return;
    closed = true;
    sub.unsubscribe();
    if (control && ws.readyState === ws.OPEN) ws.send(JSON.stringify(control));
    ws.close();
  };
  const sub = bus.subscribe(channels.sshOut(sessionId), (m) => {
    if (m.data && ws.readyState === ws.OPEN) ws.send(Buffer.from(m.data, 'base64'));
    if (m.exit !== undefined) finish({ exit: m.exit });
    if (m.error) finish({ error: m.error });
  });
  ws.on('message', (data, isBinary) => {
    if (closed) return;
    if (ws.bufferedAmount > MAX_BUFFERED) return finish({ error: 'too much output waiting for this terminal' });
    if (isBinary) {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      for (let i = 0; i < bytes.length; i += IN_CHUNK) toDea({ data: bytes.subarray(i, i + IN_CHUNK).toString('base64') });
      return;
    }
    try {
      const control = JSON.parse(data.toString()) as { resize?: { cols: number; rows: number }; eof?: boolean };
      if (control.resize) toDea({ resize: control.resize });
      if (control.eof) toDea({ eof: true });
    } catch {
      // not a control message: ignored
    }
  });
  ws.on('close', () => {
    if (!closed) bus.publish(input, { close: true });
    closed = true;
    sub.unsubscribe();
  });
  try {
    const opened = await bus.request(
      channels.deaSsh(p.deaId),
      { session_id: sessionId, app_id: p.appId, instance_id: p.instanceId, command: p.command, tty: p.tty, cols: p.cols, rows: p.rows },
      OPEN_TIMEOUT_MS,
    );
    if ('error' in opened) return finish({ error: opened.error });
    const waiting = pending;
    pending = null;
    for (const m of waiting) bus.publish(input, m);
  } catch (err) {
    return finish({ error: `the DEA running the instance did not open the session: ${(err as Error).message}` });
  }
  log.info({ app: p.appName, index: p.index, user: p.caller.name, session: sessionId }, 'ssh session');
  await events.record(p.appId, 'ssh', p.caller.name, { index: p.index, command: p.command === undefined ? null : p.command.slice(0, 200) });
}
