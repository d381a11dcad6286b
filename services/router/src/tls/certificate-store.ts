import { createSecureContext, type SecureContext } from 'node:tls';
import { CertificateRecord, type Etcd3, keys, type Logger, openKey, parseStored } from '@nap/common';
import { EtcdMirror, type EtcdMirrorOptions } from '../etcd/etcd-mirror.js';

/** What every TLS connection to the router may use: TLS 1.2 and 1.3 only. */
export const TLS_MIN_VERSION = 'TLSv1.2';

/**
 * The certificates the router serves (issue 17), from etcd: users' (`/nap/certs/<domain>`) and the
 * platform's default (`/nap/tls/default`), each key opened with NAP_CERT_KEY. A name is served by
 * its exact certificate, else the wildcard of its parent domain, else the default: never by
 * another name's certificate. A record that cannot be read or opened is skipped and logged, and
 * the name falls back to the default.
 */
export class CertificateStore {
  private readonly exact = new Map<string, SecureContext>();
  /** By the domain a wildcard covers: `*.example.com` under `example.com`. */
  private readonly wildcards = new Map<string, SecureContext>();
  private fallback: SecureContext | undefined;
  private fallbackPem: { cert: string; key: string } | undefined;
  private readonly users: EtcdMirror;
  private readonly platform: EtcdMirror;
  /** Told when the default changes: a client that sends no SNI gets the server's own context. */
  onDefault: (pem: { cert: string; key: string }) => void = () => {};

  constructor(
    etcd: Etcd3,
    private readonly certKey: string,
    private readonly log: Logger,
    opts: EtcdMirrorOptions = {},
  ) {
    this.users = new EtcdMirror(
      etcd,
      keys.certs(),
      {
        replace: (entries) => {
          this.exact.clear();
          this.wildcards.clear();
          for (const [domain, value] of entries) this.set(domain, value);
        },
        put: (domain, value) => this.set(domain, value),
        delete: (domain) => this.remove(domain),
      },
      log,
      'certificates',
      opts,
      () => this.exact.size + this.wildcards.size,
    );
    // The default is one key: its "prefix" matches it alone.
    this.platform = new EtcdMirror(
      etcd,
      keys.defaultCert(),
      {
        replace: (entries) => this.setDefault(entries.get('')),
        put: (_key, value) => this.setDefault(value),
        delete: () => this.setDefault(undefined),
      },
      log,
      'default certificate',
      opts,
      () => (this.fallback ? 1 : 0),
    );
  }

  get defaultPem(): { cert: string; key: string } | undefined {
    return this.fallbackPem;
  }

  get connected(): boolean {
    return this.users.connected && this.platform.connected;
  }

  async start(): Promise<void> {
    await Promise.all([this.users.start(), this.platform.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.users.stop(), this.platform.stop()]);
  }

  /** The context for a client's SNI name: exact, then wildcard, then the default. */
  contextFor(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return (dot > 0 ? this.wildcards.get(name.slice(dot + 1)) : undefined) ?? this.fallback;
  }

  /** node:tls's SNICallback. */
  readonly sni = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.contextFor(servername));
  };

  private open(what: string, value: string): { record: CertificateRecord; context: SecureContext; key: string } | null {
    try {
      const record = parseStored(CertificateRecord, value);
      if (!record) throw new Error('not a certificate record of this nap');
      const key = openKey(this.certKey, record.key_sealed);
      return { record, key, context: createSecureContext({ cert: record.cert, key, minVersion: TLS_MIN_VERSION }) };
    } catch (err) {
      this.log.warn({ certificate: what, err: (err as Error).message }, 'skipped a certificate that cannot be read or opened (another NAP_CERT_KEY?)');
      return null;
    }
  }

  private set(domain: string, value: string): void {
    this.remove(domain);
    const opened = this.open(domain, value);
    if (!opened || opened.record.domain !== domain) return;
    if (domain.startsWith('*.')) this.wildcards.set(domain.slice(2), opened.context);
    else this.exact.set(domain, opened.context);
  }

  private remove(domain: string): void {
    if (domain.startsWith('*.')) this.wildcards.delete(domain.slice(2));
    else this.exact.delete(domain);
  }

  private setDefault(value: string | undefined): void {
    const opened = value === undefined ? null : this.open('default', value);
    if (!opened) return; // a default that cannot be opened leaves the last good one
    this.fallback = opened.context;
    this.fallbackPem = { cert: opened.record.cert, key: opened.key };
    this.onDefault(this.fallbackPem);
  }
}
