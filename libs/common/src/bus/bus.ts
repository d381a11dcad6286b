import type { PeerCertificate } from 'node:tls';
import { connect, type TlsOptions, createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { z } from 'zod';
import type { Logger } from '../log.js';
import { ENGINES_CN } from '../engines/tls.js';
import type { Settings } from '../settings.js';
import type { Channel } from './channels.js';

/** The connection's changes that a part of nap acts on (the router re-announces itself on `reconnect`). */
export type ConnectionChange = 'disconnect' | 'reconnect';

export interface BusOptions {
  name: string;
  log: Logger;
  /** Give up after this many connection attempts at start-up; -1 retries forever (services do, tools do not). */
  startupAttempts?: number;
}

/**
 * The only door to NATS. Every message in and out goes through its channel's schema (channels.ts):
 * a malformed one is logged and dropped here, so no handler ever sees an unchecked body or throws
 * into the client.
 */
/**
 * nats.js upgrades its open socket to TLS without naming the server it dialled, so Node would
 * check the certificate against "localhost". The chain is checked against the cluster's CA, and
 * any engines node's certificate is a server of this cluster (nats.js also connects to servers it
 * learns from the others); another node's certificate (a DEA host's) is not.
 */
export function isEnginesNode(_host: string, cert: PeerCertificate): Error | undefined {
  return cert.subject?.CN === ENGINES_CN ? undefined : new Error(`NATS presented a certificate for ${String(cert.subject?.CN)}, not an engines node of this cluster`);
}

export class Bus {
  private constructor(
    readonly nc: NatsConnection,
    private readonly log: Logger,
  ) {}

  static async connect(settings: Settings, opts: BusOptions): Promise<Bus> {
    const PING_INTERVAL_MS = 2_000;
    const nc = await connect({
      servers: settings.natsUrls,
      // Between hosts NATS speaks TLS only; the server is checked against the cluster's CA.
      // nats.js hands its TLS options to Node's tls.connect as they are; its type names only its own.
      ...(settings.tls ? { tls: { caFile: settings.tls.ca, checkServerIdentity: isEnginesNode } as TlsOptions } : {}),
      user: settings.natsUser,
      pass: settings.natsPassword,
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // A server on a host that was cut off sends no reset: only missed pings tell. nats.js's
      // default (a ping every 2 min, two missed) left a DEA deaf to the bus for minutes; this way
      // it is on another server of the cluster within about 6 s.
      pingInterval: PING_INTERVAL_MS,
      maxPingOut: 2,
      waitOnFirstConnect: (opts.startupAttempts ?? -1) < 0,
      // A reconnect tries the servers in turn: one on a dead host answers nothing, and each second
      // spent on it is a second the bus is deaf (5 s here delayed a host's replacement starts).
      timeout: 2000,
    });
    const bus = new Bus(nc, opts.log);
    void bus.watchStatus();
    return bus;
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') this.log.warn({ nats: s.type, server: s.data }, 'nats connection changed');
    }
  }

  /** The connection going away and coming back, as they happen, until the bus is closed. */
  async *connectionChanges(): AsyncIterable<ConnectionChange> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') yield s.type;
    }
  }

  publish<S extends z.ZodTypeAny, R extends z.ZodTypeAny>(channel: Channel<S, R>, body: z.input<S>): void {
    this.send(channel.subject, channel.body, body);
  }

  private send<S extends z.ZodTypeAny>(subject: string, schema: S, body: z.input<S>, reply?: string): void {
    const checked = schema.parse(body);
    this.nc.publish(subject, JSON.stringify(checked), reply ? { reply } : undefined);
  }

  subscribe<S extends z.ZodTypeAny, R extends z.ZodTypeAny>(
    channel: Channel<S, R>,
    handler: (body: z.output<S>, msg: Msg) => void | Promise<void>,
    opts: { queue?: string } = {},
  ): Subscription {
    const { subject, body: schema } = channel;
    return this.nc.subscribe(subject, {
      queue: opts.queue,
      callback: (err, msg) => {
        if (err) {
          this.log.error({ err, subject }, 'subscription failed');
          return;
        }
        const body = decode(msg, schema);
        if (!body.ok) {
          this.log.warn({ subject: msg.subject, problem: body.problem }, 'dropped malformed message');
          return;
        }
        Promise.resolve()
          .then(() => handler(body.value, msg))
          .catch((e) => this.log.error({ err: e, subject: msg.subject }, 'message handler failed'));
      },
    });
  }

  /** A request answered once: the first valid answer, or a NoAnswerError after `timeoutMs`. */
  async request<S extends z.ZodTypeAny, R extends z.ZodTypeAny>(channel: Channel<S, R>, body: z.input<S>, timeoutMs: number): Promise<z.output<R>> {
    let answer: z.output<R> | undefined;
    await this.requestMany(channel, body, (reply) => ((answer = reply), true), timeoutMs);
    return answer as z.output<R>;
  }

  /** A request that may be answered several times (staging: accepted, then result). */
  requestMany<S extends z.ZodTypeAny, R extends z.ZodTypeAny>(
    channel: Channel<S, R>,
    body: z.input<S>,
    onReply: (reply: z.output<R>) => boolean | void,
    timeoutMs: number,
    firstReplyTimeoutMs = timeoutMs,
  ): Promise<void> {
    const { subject, body: schema, reply: replySchema } = channel;
    const inbox = createInbox();
    return new Promise<void>((resolve, reject) => {
      // Check the body before subscribing and arming the timer: an invalid one rejects without leaving either behind.
      schema.parse(body);
      const timer = setTimeout(() => {
        clearTimeout(firstTimer);
        sub.unsubscribe();
        reject(new Error(`no answer on ${subject} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      // Nobody listening (a DEA that just died or has not subscribed yet) shows as no first answer.
      const firstTimer = setTimeout(() => {
        clearTimeout(timer);
        sub.unsubscribe();
        reject(new NoAnswerError(subject, firstReplyTimeoutMs));
      }, firstReplyTimeoutMs);
      const sub = this.nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (err) return;
          // nats-server's own "no responders" (a DEA whose subscription is not back yet after a
          // reconnect): nobody will answer, so say so now rather than wait for the first timer.
          if (msg.headers?.code === 503 && msg.data.length === 0) {
            clearTimeout(timer);
            clearTimeout(firstTimer);
            sub.unsubscribe();
            reject(new NoAnswerError(subject, 0));
            return;
          }
          const r = decode(msg, replySchema);
          if (!r.ok) {
            // Not an answer: the first one may still come, and the first timer still waits for it.
            this.log.warn({ subject, problem: r.problem }, 'dropped malformed reply');
            return;
          }
          clearTimeout(firstTimer);
          let done: boolean | void;
          try {
            done = onReply(r.value);
          } catch (e) {
            done = true;
            clearTimeout(timer);
            clearTimeout(firstTimer);
            sub.unsubscribe();
            reject(e as Error);
            return;
          }
          if (done) {
            clearTimeout(timer);
            sub.unsubscribe();
            resolve();
          }
        },
      });
      this.send(subject, schema, body, inbox);
    });
  }

  /** Answers a request that came on `channel`, with a body of its answer's schema. */
  reply<S extends z.ZodTypeAny, R extends z.ZodTypeAny>(channel: Channel<S, R>, msg: Msg, body: z.input<R>): void {
    if (msg.reply) this.send(msg.reply, channel.reply, body);
  }

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.drain().catch(() => this.nc.close());
  }
}

/** Nothing answered a request at all within the time given for the first answer. */
export class NoAnswerError extends Error {
  constructor(
    readonly subject: string,
    ms: number,
  ) {
    super(ms === 0 ? `nothing listens on ${subject}` : `nothing answered on ${subject} within ${Math.round(ms / 100) / 10} s`);
    this.name = 'NoAnswerError';
  }
}

type Decoded<T> = { ok: true; value: T } | { ok: false; problem: string };

function decode<S extends z.ZodTypeAny>(msg: Msg, schema: S): Decoded<z.output<S>> {
  let json: unknown;
  try {
    json = msg.data.length === 0 ? {} : JSON.parse(Buffer.from(msg.data).toString('utf8'));
  } catch {
    return { ok: false, problem: 'body is not JSON' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, problem: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') };
  }
  return { ok: true, value: parsed.data };
}
