import { type Etcd3, keys, type Logger, parseStored, RouteOptions } from '@nap/common';
import { EtcdMirror, type EtcdMirrorOptions } from '../etcd/etcd-mirror.js';
import type { RouteTable } from '../table/route-table.js';

export type ClaimWatcherOptions = EtcdMirrorOptions;

/**
 * etcd's route claims (`/nap/routes/<host>` → the app that holds it, written by the controller) and
 * route options (`/nap/route-options/<host>`) → the route table. The table needs the claims so that
 * a claimed host with no instance answers 503 instead of falling through to someone else's
 * wildcard, and the options (https_only) for the routes whose holder set them: an option left by an
 * app that no longer holds the route is ignored. And the ACME HTTP-01 answers the controller put
 * for the certificates it orders (`/nap/acme-challenges/<token>`).
 */
export class ClaimWatcher {
  private holders = new Map<string, string>();
  private options = new Map<string, RouteOptions>();
  private readonly claims: EtcdMirror;
  private readonly routeOptions: EtcdMirror;
  private readonly challenges: EtcdMirror;

  constructor(
    etcd: Etcd3,
    private readonly table: RouteTable,
    private readonly log: Logger,
    opts: ClaimWatcherOptions = {},
  ) {
    this.claims = new EtcdMirror(
      etcd,
      keys.routes(),
      {
        replace: (entries) => {
          this.holders = entries;
          table.replaceClaims(entries.keys());
          this.refreshAll();
        },
        put: (host, appId) => {
          this.holders.set(host, appId);
          table.claim(host);
          this.refresh(host);
        },
        delete: (host) => {
          this.holders.delete(host);
          table.unclaim(host);
          this.refresh(host);
        },
      },
      log,
      'route claims',
      opts,
      () => table.claimCount,
    );
    this.routeOptions = new EtcdMirror(
      etcd,
      keys.routeOptions(),
      {
        replace: (entries) => {
          this.options = new Map([...entries].flatMap(([host, value]) => this.parse(host, value)));
          this.refreshAll();
        },
        put: (host, value) => {
          const [entry] = this.parse(host, value);
          if (entry) this.options.set(host, entry[1]);
          else this.options.delete(host);
          this.refresh(host);
        },
        delete: (host) => {
          this.options.delete(host);
          this.refresh(host);
        },
      },
      log,
      'route options',
      opts,
      () => this.options.size,
    );
    const answers = table.acmeChallenges;
    this.challenges = new EtcdMirror(
      etcd,
      keys.acmeChallenges(),
      {
        replace: (entries) => {
          answers.clear();
          for (const [token, answer] of entries) answers.set(token, answer);
        },
        put: (token, answer) => answers.set(token, answer),
        delete: (token) => answers.delete(token),
      },
      log,
      'ACME challenges',
      opts,
      () => answers.size,
    );
  }

  /** Whether the claims and options have been read at least once and both watches are live now, for /varz. */
  get connected(): boolean {
    return this.claims.connected && this.routeOptions.connected && this.challenges.connected;
  }

  /** Starts; resolves after the first reads succeeded or failed (they are retried), never rejects. */
  async start(): Promise<void> {
    await Promise.all([this.claims.start(), this.routeOptions.start(), this.challenges.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.claims.stop(), this.routeOptions.stop(), this.challenges.stop()]);
  }

  private parse(host: string, value: string): [string, RouteOptions][] {
    const options = parseStored(RouteOptions, value);
    if (options) return [[host, options]];
    this.log.warn({ host }, 'skipped malformed route options in etcd');
    return [];
  }

  private refresh(host: string): void {
    const o = this.options.get(host);
    if (o?.https_only && this.holders.get(host) === o.app_id) this.table.httpsOnly.add(host);
    else this.table.httpsOnly.delete(host);
  }

  private refreshAll(): void {
    this.table.httpsOnly.clear();
    for (const host of this.options.keys()) this.refresh(host);
  }
}
