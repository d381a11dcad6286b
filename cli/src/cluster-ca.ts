import { readFile } from 'node:fs/promises';
import { caPinOf } from '@nap/common/without-engines';
import { CliError } from './config.js';
import { uncheckedFetch } from './http.js';

const PIN = /^sha256:[0-9a-f]{64}$/;
const MAX_ANSWER = 64 * 1024;

/**
 * The CA a CLI or a joining host trusts for an https API: given as a file, or fetched from the API
 * and kept only if its hash is the pin `nap up` printed (kubeadm's discovery), so a host on the
 * way cannot hand its own. Undefined for a plain API.
 */
export async function caFor(api: string, given: { caFile?: string; caPin?: string }): Promise<string | undefined> {
  if (given.caFile) {
    const pem = await readFile(given.caFile, 'utf8').catch((err: Error) => {
      throw new CliError(`cannot read the CA file ${given.caFile}: ${err.message}`);
    });
    try {
      caPinOf(pem);
    } catch {
      throw new CliError(`${given.caFile} is not a PEM certificate`);
    }
    return pem;
  }
  if (!api.startsWith('https:')) return undefined;
  if (!given.caPin) throw new CliError(`${api} speaks TLS with the nap's own CA: pass --ca-pin sha256:… (nap up printed it; nap nodes token create prints it too) or --ca-file FILE`);
  if (!PIN.test(given.caPin)) throw new CliError(`--ca-pin: expected sha256: and 64 hex digits, as nap up printed it; got ${given.caPin}`);
  let ca: unknown;
  let text: string;
  try {
    const res = await uncheckedFetch(`${api}/v1/cluster/ca`, { signal: AbortSignal.timeout(10_000) });
    text = await res.text();
    if (!res.ok) throw new Error(`it answered ${res.status}: ${text.slice(0, 200)}`);
  } catch (err) {
    throw new CliError(`cannot fetch the CA of ${api} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}): is it up, and is it a nap?`);
  }
  // Nothing is trusted yet: a host in the way may answer anything; a CA certificate is a few KB.
  try {
    ca = text.length <= MAX_ANSWER ? (JSON.parse(text) as { ca?: unknown }).ca : undefined;
  } catch {
    ca = undefined;
  }
  let pin: string | null = null;
  try {
    pin = typeof ca === 'string' ? caPinOf(ca) : null;
  } catch {
    pin = null;
  }
  if (pin !== given.caPin) throw new CliError(`the CA that ${api} handed is not the one pinned (${given.caPin}${pin ? `; it handed ${pin}` : '; it handed no certificate'}): nothing was trusted or sent. Check the address, and the pin nap up printed`);
  return ca as string;
}
