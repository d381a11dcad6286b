import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import * as acme from 'acme-client';
import { type CertificateRecord, certificateCovers, certificateRecord, checkCertificate, type Etcd3, keys, type Logger, openKey, parseStored, sealKey, type Settings } from '@nap/common';
import { z } from 'zod';
import { domainOf } from '../routes/route-policy.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { CertsRepository } from '../store/certs-repository.js';
import type { DomainsRepository } from '../store/domains-repository.js';
import type { EventsRepository } from '../store/events-repository.js';
import type { RoutesRepository } from '../store/routes-repository.js';
import type { CertificatePolicy } from './certificate-policy.js';

const DAY_MS = 86_400_000;
/** After a failed order a host waits this long, doubling, up to the cap. */
const RETRY_MIN_MS = 60_000;
const RETRY_MAX_MS = 6 * 3_600_000;
/** An HTTP-01 answer the routers give lives this long in etcd at most (a lease), even if the order dies half way. */
const CHALLENGE_TTL_S = 600;
/** The expiry warnings of uploaded certificates, in days before. */
const WARN_DAYS = [30, 7];

const AccountRecord = z.object({ directory: z.string(), key_sealed: z.string(), url: z.string().optional() });
const HostState = z.object({ failures: z.number().int(), next_try: z.number(), error: z.string() });
type HostState = z.infer<typeof HostState>;

export interface AcmeDeps {
  etcd: Etcd3;
  certs: CertsRepository;
  routes: RoutesRepository;
  apps: AppsRepository;
  domains: DomainsRepository;
  events: EventsRepository;
  settings: Settings;
  log: Logger;
  policy: CertificatePolicy;
  now?: () => number;
}

/**
 * Certificates nap gets by itself (issue 17), from NAP_ACME_DIRECTORY, for every route on a private
 * domain that no certificate of a user's serves: ordered with HTTP-01 (the answer is put in etcd
 * and every router gives it at `/.well-known/acme-challenge/<token>` on its plain port), renewed
 * NAP_ACME_RENEW_DAYS before they end, dropped once no app holds the route. A failure waits
 * (1 min doubling to 6 h) and is an event of the app that holds the route, as is each certificate
 * issued. It also warns, as events, 30 and 7 days before an uploaded certificate ends. Only the
 * elected controller runs it (HealthManager's whileLeading), one pass at a time.
 */
export class AcmeManager {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: AcmeDeps) {
    this.now = deps.now ?? Date.now;
    const caFile = deps.settings.acme?.caFile;
    // The directory's own TLS: a private ACME server (pebble in the tests) is trusted through its CA.
    if (caFile) acme.axios.defaults.httpsAgent = new Agent({ ca: readFileSync(caFile) });
  }

  start(): void {
    const acmeOn = this.deps.settings.acme;
    if (this.timer) return;
    // Without ACME the pass still removes certificates no one may serve any more, and warns of expiry.
    const every = (acmeOn?.intervalS ?? 300) * 1000;
    this.timer = setInterval(() => void this.pass(), every);
    this.timer.unref();
    void this.pass();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at every route and certificate; a pass still running is not doubled. */
  pass(): Promise<void> {
    this.running ??= this.passOnce()
      .catch((err) => this.deps.log.warn({ err }, 'the certificate pass failed; the next one tries again'))
      .finally(() => (this.running = null));
    return this.running;
  }

  private async passOnce(): Promise<void> {
    const { certs, routes, domains, settings } = this.deps;
    const [held, listed, privateDomains] = await Promise.all([routes.all(), certs.list(), domains.list()]);
    // An upload whose owner may no longer serve its name (the route or the domain went to someone
    // else) is no one's: it goes, so the new holder gets the default, its own or nap's.
    const all: typeof listed = [];
    for (const c of listed) {
      if (c.source === 'upload' && !(await this.deps.policy.ownerMayServe(c))) {
        if (await certs.deleteIf(c)) this.deps.log.info({ domain: c.domain, owner: c.owner }, "removed a certificate whose owner may no longer serve its name");
      } else all.push(c);
    }
    await this.warnExpiring(all, held);
    const acmeOn = settings.acme;
    if (!acmeOn || !settings.certKey) return;
    const domainRecords = privateDomains.map((d) => d.record).filter((d) => !d.deleting);
    const shared = settings.domain;
    const eligible = Object.keys(held).filter((host) => !host.startsWith('*.') && host !== shared && !host.endsWith(`.${shared}`) && domainOf(host, domainRecords));
    // A certificate of nap's for a host no app holds now goes.
    for (const c of all) if (c.source === 'acme' && !eligible.includes(c.domain)) await certs.deleteIf(c);
    const due: { host: string; mine: CertificateRecord | undefined }[] = [];
    for (const host of eligible) {
      const mine = all.find((c) => c.domain === host);
      if (all.some((c) => c.source !== 'acme' && servedBy(c, host))) continue; // the user's own certificate serves it
      if (mine && Date.parse(mine.not_after) - this.now() > acmeOn.renewDays * DAY_MS) continue;
      due.push({ host, mine });
    }
    // Renewals first (each was issued once, so a tenant cannot make them up), and at most one new
    // name per app owner a pass: many names that never validate cannot hold back everyone else's.
    due.sort((a, b) => Number(Boolean(b.mine)) - Number(Boolean(a.mine)));
    const orderedNew = new Set<string>();
    for (const { host, mine } of due) {
      const owner = (await this.deps.apps.list((a) => a.id === held[host]))[0]?.owner ?? 'admin';
      if (!mine && orderedNew.has(owner)) continue;
      const state = await this.state(host);
      if (state && state.next_try > this.now()) continue;
      if (!mine) orderedNew.add(owner);
      await this.order(host, held[host], mine ?? null, state);
    }
  }

  private async order(host: string, appId: string, current: CertificateRecord | null, state: HostState | null): Promise<void> {
    const { etcd, certs, apps, events, settings, log } = this.deps;
    const acmeOn = settings.acme!;
    const certKey = settings.certKey!;
    const app = (await apps.list((a) => a.id === appId))[0];
    try {
      const client = await this.client(certKey);
      const [key, csr] = await acme.crypto.createCsr({ commonName: host, altNames: [host] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
      const chain = await client.auto({
        csr,
        email: acmeOn.email,
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The routers answer it; the controller itself may not reach the name.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          const lease = etcd.lease(CHALLENGE_TTL_S, { autoKeepAlive: false });
          await lease.put(keys.acmeChallenge(challenge.token)).value(keyAuthorization);
          // The routers read it from etcd: give their watch a moment before the server asks.
          await new Promise((r) => setTimeout(r, 500));
        },
        challengeRemoveFn: async (_authz, challenge) => {
          await etcd.delete().key(keys.acmeChallenge(challenge.token));
        },
      });
      const checked = checkCertificate(chain, key.toString(), host, new Date(this.now()));
      const record = certificateRecord(checked, key.toString(), certKey, { domain: host, source: 'acme', owner: app?.owner ?? 'admin', now: new Date(this.now()) });
      // A user's upload made meanwhile wins.
      const existing = await certs.get(host);
      if (existing && existing.source !== 'acme') return;
      if (!(existing ? await certs.replace(record, existing) : await certs.create(record))) return;
      await etcd.delete().key(keys.acmeState(host));
      log.info({ host, not_after: record.not_after, renewal: Boolean(current) }, 'certificate issued by ACME');
      if (app) await events.record(app.id, 'certificate_issued', 'system', { host, not_after: record.not_after, issuer: record.issuer, renewal: Boolean(current) });
    } catch (err) {
      const failures = (state?.failures ?? 0) + 1;
      const wait = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (failures - 1));
      const error = (err as Error).message.slice(0, 500);
      const next: HostState = { failures, next_try: this.now() + wait, error };
      await etcd.put(keys.acmeState(host)).value(JSON.stringify(next)).catch(() => {});
      log.warn({ host, failures, retry_in_ms: wait, err: error }, 'could not get a certificate by ACME; trying again later');
      if (app) await events.record(app.id, 'certificate_failed', 'system', { host, error, failures, retry_at: new Date(next.next_try).toISOString() });
    }
  }

  /** The ACME client, with the platform's account (made and kept sealed in etcd on first use). */
  private async client(certKey: string): Promise<acme.Client> {
    const { etcd, settings } = this.deps;
    const directoryUrl = settings.acme!.directory;
    const raw = await etcd.get(keys.acmeAccount()).string();
    const kept = parseStored(AccountRecord, raw);
    let account = kept?.directory === directoryUrl ? kept : null;
    if (!account) {
      const key = await acme.crypto.createPrivateEcdsaKey('P-256');
      account = { directory: directoryUrl, key_sealed: sealKey(certKey, key.toString()) };
      await etcd.put(keys.acmeAccount()).value(JSON.stringify(account));
    }
    const client = new acme.Client({ directoryUrl, accountKey: openKey(certKey, account.key_sealed), accountUrl: account.url });
    if (!account.url) {
      await client.createAccount({ termsOfServiceAgreed: true, contact: settings.acme!.email ? [`mailto:${settings.acme!.email}`] : undefined });
      await etcd.put(keys.acmeAccount()).value(JSON.stringify({ ...account, url: client.getAccountUrl() }));
    }
    return client;
  }

  private async state(host: string): Promise<HostState | null> {
    const raw = await this.deps.etcd.get(keys.acmeState(host)).string();
    return parseStored(HostState, raw);
  }

  /** 30 and 7 days before an uploaded certificate ends, each app whose route it serves gets an event, once. */
  private async warnExpiring(all: CertificateRecord[], held: Record<string, string>): Promise<void> {
    for (const c of all) {
      if (c.source === 'acme') continue;
      const daysLeft = (Date.parse(c.not_after) - this.now()) / DAY_MS;
      const due = WARN_DAYS.filter((d) => daysLeft <= d && !c.warned.includes(d));
      if (due.length === 0) continue;
      const appIds = new Set(Object.entries(held).filter(([host]) => !host.startsWith('*.') && servedBy(c, host)).map(([, id]) => id));
      for (const id of appIds) await this.deps.events.record(id, 'certificate_expiring', 'system', { domain: c.domain, not_after: c.not_after, days_left: Math.floor(daysLeft) });
      await this.deps.certs.replace({ ...c, warned: [...c.warned, ...due] }, c);
    }
  }
}

/** Whether the routers serve `host` with `c`, by their rule: its own name, or its parent's wildcard. */
function servedBy(c: CertificateRecord, host: string): boolean {
  const dot = host.indexOf('.');
  return certificateCovers(c.names, host) && (c.domain === host || (dot > 0 && c.domain === `*${host.slice(dot)}`));
}

