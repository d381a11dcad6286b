import type { Address } from '../table/endpoint.js';
import { UpstreamConnection } from './upstream-connection.js';

export interface UpstreamPoolOptions {
  /**
   * Idle connections are closed after this long: shorter than the apps' keep-alive timeout (Node's
   * default is 5 s), so the router never reuses a connection the app is closing.
   */
  idleMs: number;
  /** A new connection that takes longer than this counts as a failed connect. */
  connectTimeoutMs: number;
  /** Idle connections kept per instance; more are closed when they come back. */
  maxIdlePerAddress: number;
}

/**
 * Keep-alive connections to app instances, per address. The most recently used idle connection
 * goes first: the ones left over after a burst stay idle and are closed by the sweep.
 */
export class UpstreamPool {
  private readonly idle = new Map<Address, UpstreamConnection[]>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly all = new Set<UpstreamConnection>();
  private idleCount = 0;

  constructor(private readonly opts: UpstreamPoolOptions) {
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(100, Math.floor(opts.idleMs / 4)));
    this.sweepTimer.unref();
  }

  /** An idle connection to the address, or a new one (then still connecting). */
  acquire(address: Address): UpstreamConnection {
    const list = this.idle.get(address);
    if (list !== undefined) {
      const oldest = performance.now() - this.opts.idleMs;
      let conn: UpstreamConnection | undefined;
      while ((conn = list.pop()) !== undefined) {
        this.idleCount--;
        if (!conn.closing && !conn.socket.destroyed && conn.idleSince > oldest) return conn;
        conn.socket.destroy();
      }
    }
    const conn = new UpstreamConnection(address, this.opts.connectTimeoutMs, this.onGone);
    this.all.add(conn);
    return conn;
  }

  /** Back to the idle pool after a complete exchange the connection can follow with another. */
  release(conn: UpstreamConnection): void {
    conn.exchange = null;
    let list = this.idle.get(conn.address);
    if (list === undefined) {
      list = [];
      this.idle.set(conn.address, list);
    }
    if (list.length >= this.opts.maxIdlePerAddress) {
      conn.socket.destroy();
      return;
    }
    // Paused when its last answer met a slow client: an idle connection must be read, both to
    // notice the app closing it and for the next request's answer to arrive at all.
    if (conn.socket.isPaused()) conn.socket.resume();
    conn.idleSince = performance.now();
    list.push(conn);
    this.idleCount++;
  }

  /**
   * Ends every connection to an address whose instance is lost (its host stopped answering): an
   * idle one would hang the next request sent on it, a busy one hangs until the request timeout.
   * A busy one's request sees its connection close before an answer, as when an app drops it.
   */
  abandon(address: Address): number {
    let ended = 0;
    for (const conn of this.all) {
      if (conn.address !== address) continue;
      conn.closing = true;
      conn.socket.destroy();
      ended++;
    }
    return ended;
  }

  /** Connections busy with a request, and idle ones. */
  counts(): { active: number; idle: number } {
    return { active: this.all.size - this.idleCount, idle: this.idleCount };
  }

  close(): void {
    clearInterval(this.sweepTimer);
    for (const conn of this.all) conn.socket.destroy();
  }

  private readonly onGone = (conn: UpstreamConnection): void => {
    this.all.delete(conn);
    // A connection that closed while idle is dropped from its list here; a busy one is in none.
    const list = this.idle.get(conn.address);
    if (list === undefined) return;
    const at = list.indexOf(conn);
    if (at !== -1) {
      list.splice(at, 1);
      this.idleCount--;
    }
    if (list.length === 0) this.idle.delete(conn.address);
  };

  private sweep(): void {
    const oldest = performance.now() - this.opts.idleMs;
    for (const list of this.idle.values()) {
      // Oldest first: they were pushed in the order they went idle.
      while (list.length > 0 && list[0].idleSince <= oldest) {
        // onGone takes it off the list when the socket has closed; shift it now so the loop ends.
        const conn = list.shift()!;
        this.idleCount--;
        conn.socket.destroy();
      }
    }
  }
}
