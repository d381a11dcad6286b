import { createReadStream, statSync } from 'node:fs';
import { request } from 'node:http';
import { request as requestTls } from 'node:https';
import { rootCertificates } from 'node:tls';
import { CliError, target } from './config.js';
import { type NapFetch, trustingCa } from './http.js';

export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The controller's REST API (CONTRACT §2), with its errors turned into ApiError carrying the API's message. */
export class ApiClient {
  /** fetch for the API and the directory servers it points to: both may hold certificates of the cluster's CA. */
  readonly fetch: NapFetch;

  constructor(
    readonly api: string,
    private readonly token: string | undefined,
    readonly ca?: string,
  ) {
    this.fetch = trustingCa(ca);
  }

  static async fromConfig(): Promise<ApiClient> {
    const t = await target();
    return new ApiClient(t.api, t.token, t.ca);
  }

  /** The bearer header alone, for a connection that is not a fetch (nap ssh's websocket). */
  authHeaders(): Record<string, string> {
    return this.headers();
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await this.fetch(`${this.api}${path}`, {
        method,
        headers: this.headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw unreachable(this.api, err);
    }
    return parse<T>(res.status, await res.text());
  }

  /**
   * Where a 302 of the API points (a signed directory-server URL). The redirect is not followed
   * here, so the API token is never sent to another host.
   */
  async redirectTarget(path: string): Promise<string> {
    let res: Response;
    try {
      res = await this.fetch(`${this.api}${path}`, { headers: this.headers(), redirect: 'manual' });
    } catch (err) {
      throw unreachable(this.api, err);
    }
    const location = res.headers.get('location');
    if (res.status === 302 && location) return location;
    return parse<never>(res.status >= 400 ? res.status : 502, await res.text());
  }

  /** Streams a file as the body of a PUT, reporting bytes sent. */
  upload<T>(path: string, file: string, onProgress: (sent: number, total: number) => void): Promise<T> {
    const total = statSync(file).size;
    const url = new URL(`${this.api}${path}`);
    const send = url.protocol === 'https:' ? requestTls : request;
    return new Promise<T>((resolve, reject) => {
      const req = send(
        url,
        { method: 'PUT', headers: this.headers({ 'Content-Type': 'application/gzip', 'Content-Length': String(total) }), ...(this.ca ? { ca: [...rootCertificates, this.ca] } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              resolve(parse<T>(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      req.on('error', (err) => reject(new CliError(`upload to ${this.api} failed: ${err.message}`)));
      let sent = 0;
      const stream = createReadStream(file);
      stream.on('data', (c) => {
        sent += c.length;
        onProgress(sent, total);
      });
      stream.pipe(req);
    });
  }
}

function unreachable(api: string, err: unknown): CliError {
  const cause = (err as Error & { cause?: Error & { code?: string } }).cause;
  const why = cause?.message ?? (err as Error).message;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(cause?.code ?? '')) {
    return new CliError(`the nap API at ${api} has a certificate this CLI does not trust (${why}): target it with nap target ${api} --ca-pin sha256:… (as nap up printed it)`);
  }
  return new CliError(`cannot reach the nap API at ${api} (${why}): is it up? (nap status)`);
}

function parse<T>(status: number, text: string): T {
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: reported below if it is an error
  }
  if (status >= 400) {
    const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(status, e?.code ?? 'http_error', e?.message ?? `the API answered ${status}: ${text.slice(0, 200)}`);
  }
  return json as T;
}
