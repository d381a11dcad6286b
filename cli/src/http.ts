import { rootCertificates } from 'node:tls';
import { Agent, fetch as undiciFetch, type RequestInit, type Response } from 'undici';

/** fetch towards nap's own servers (its API, directory servers); see trustingCa. */
export type NapFetch = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * fetch that trusts the cluster's CA beside the system's: a nap of several hosts serves its API and
 * directory servers with certificates of its own CA (`nap up --advertise` made it), which the CLI
 * keeps in its config. Node's own fetch takes no CA, hence undici's, with an agent that carries it.
 */
export function trustingCa(caPem: string | undefined): NapFetch {
  if (!caPem) return (url, init) => undiciFetch(url, init);
  const dispatcher = new Agent({ connect: { ca: [...rootCertificates, caPem] } });
  return (url, init) => undiciFetch(url, { ...init, dispatcher });
}

/** fetch that checks no certificate: only for the CA itself, which is then checked against its pin. */
export const uncheckedFetch: NapFetch = (() => {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  return (url, init) => undiciFetch(url, { ...init, dispatcher });
})();
