import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Backoff, type DrainTarget, type Logger, publicAddressesOf, RepeatedFailureLog, sleep } from '@nap/common';

/** Lines held for a drain that is away: past it the oldest go, counted and reported. */
export const DRAIN_QUEUE_LINES = 10_000;
/** An https drain gets lines in POSTs of at most this many. */
const HTTPS_BATCH = 500;
const CONNECT_TIMEOUT_MS = 5_000;
const HTTPS_TIMEOUT_MS = 10_000;

export interface DrainSenderOptions {
  target: DrainTarget;
  /** An admin's drain may go to any address; a developer's only to public ones, checked at each connect. */
  anyAddress: boolean;
  log: Logger;
  /** Lines dropped since the last report (the queue was full): the DEA reports them as an event. */
  dropped: (count: number) => void;
}

/**
 * One drain of one app on this DEA: a queue of framed lines sent in order over one connection
 * (syslog, syslog-tls) or in POSTs (https). A drain that is away is connected to again after a
 * bounded back-off, and the queue keeps what was written meanwhile (the oldest dropped past
 * DRAIN_QUEUE_LINES, counted). A line is taken off the queue only once written to the socket.
 */
export class DrainSender {
  private readonly queue: Buffer[] = [];
  private socket: Socket | null = null;
  private running = false;
  private closed = false;
  private droppedSinceReport = 0;
  private readonly closing = new AbortController();
  private readonly failures: RepeatedFailureLog;

  constructor(private readonly opts: DrainSenderOptions) {
    this.failures = new RepeatedFailureLog(opts.log);
  }

  send(frame: Buffer): void {
    if (this.closed) return;
    this.queue.push(frame);
    if (this.queue.length > DRAIN_QUEUE_LINES) {
      this.queue.shift();
      this.droppedSinceReport++;
    }
    if (!this.running) void this.run();
  }

  close(): void {
    this.closed = true;
    this.closing.abort();
    this.socket?.destroy();
    this.socket = null;
  }

  private reportDropped(): void {
    if (this.droppedSinceReport === 0) return;
    this.opts.dropped(this.droppedSinceReport);
    this.droppedSinceReport = 0;
  }

  private async run(): Promise<void> {
    this.running = true;
    const backoff = new Backoff({ minMs: 250, maxMs: 5_000 });
    const what = `log drain ${this.opts.target.url.replace(/\?.*$/, '')} unreachable`;
    try {
      while (!this.closed && this.queue.length > 0) {
        try {
          if (this.opts.target.kind === 'https') await this.postBatch();
          else await this.writeAll();
          this.failures.recovered(what, 'log drain reachable again');
          backoff.reset();
          this.reportDropped();
        } catch (err) {
          this.socket?.destroy();
          this.socket = null;
          this.failures.failed(what, err);
          this.reportDropped();
          await sleep(backoff.next(), this.closing.signal);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** syslog / syslog-tls: the queue written in order over one connection, kept open between lines. */
  private async writeAll(): Promise<void> {
    const socket = this.socket ?? (this.socket = await this.connect());
    while (!this.closed && this.queue.length > 0) {
      const frame = this.queue[0];
      await new Promise<void>((resolve, reject) => {
        if (!socket.writable) return reject(new Error('the drain closed the connection'));
        socket.write(frame, (err) => (err ? reject(err) : resolve()));
      });
      this.queue.shift();
    }
  }

  private async connect(): Promise<Socket> {
    const { target, anyAddress } = this.opts;
    const [address] = anyAddress ? [target.host] : await publicAddressesOf(target.host);
    return new Promise<Socket>((resolve, reject) => {
      const socket =
        target.kind === 'syslog-tls'
          ? tlsConnect({ host: address, port: target.port, servername: target.host, timeout: CONNECT_TIMEOUT_MS })
          : tcpConnect({ host: address, port: target.port, timeout: CONNECT_TIMEOUT_MS });
      const fail = (err: Error) => {
        socket.destroy();
        reject(err);
      };
      socket.once(target.kind === 'syslog-tls' ? 'secureConnect' : 'connect', () => {
        socket.setTimeout(0);
        socket.off('error', fail);
        // A drain that goes away later shows in the next write.
        socket.on('error', () => socket.destroy());
        // Read (and drop) what a drain sends, or its FIN is never seen: a drain that shuts down
        // cleanly then gets no more lines on a connection it no longer reads, and none is lost.
        socket.resume();
        resolve(socket);
      });
      socket.once('timeout', () => fail(new Error(`no connection in ${CONNECT_TIMEOUT_MS} ms`)));
      socket.once('error', fail);
    });
  }

  /** https: up to HTTPS_BATCH lines in one POST (Heroku's application/logplex-1 framing); any 2xx takes them. */
  private async postBatch(): Promise<void> {
    const { target, anyAddress } = this.opts;
    if (!anyAddress) await publicAddressesOf(target.host);
    const batch = this.queue.slice(0, HTTPS_BATCH);
    const res = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/logplex-1', 'logplex-msg-count': String(batch.length) },
      body: Buffer.concat(batch),
      redirect: 'error',
      signal: AbortSignal.timeout(HTTPS_TIMEOUT_MS),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status > 299) throw new Error(`the drain answered ${res.status}`);
    this.queue.splice(0, batch.length);
  }
}
