import { rootCertificates } from 'node:tls';

/** fetch towards nap's own servers (its API, directory servers); see trustingCa. */
export type NapFetch = (url: string, init?: RequestInit) => Promise<Response>;

/** Loaded only when a CA is in play: every other command starts without it (it costs about 0.1 s). */
const loadUndici = () => import('undici');

function withAgent(connect: { ca?: string[]; rejectUnauthorized?: boolean }): NapFetch {
  let agent: InstanceType<Awaited<ReturnType<typeof loadUndici>>['Agent']> | undefined;
  return async (url, init) => {
    const { Agent, fetch } = await loadUndici();
    agent ??= new Agent({ connect });
    return (await fetch(url, { ...(init as object), dispatcher: agent })) as unknown as Response;
  };
}

/**
 * fetch that trusts the cluster's CA beside the system's: a nap of several hosts serves its API and
 * directory servers with certificates of its own CA (`nap up --advertise` made it), which the CLI
 * keeps in its config. Node's own fetch takes no CA, hence undici's, with an agent that carries it.
 */
export function trustingCa(caPem: string | undefined): NapFetch {
  if (!caPem) return (url, init) => fetch(url, init);
  return withAgent({ ca: [...rootCertificates, caPem] });
}

/** fetch that checks no certificate: only for the CA itself, which is then checked against its pin. */
export const uncheckedFetch: NapFetch = withAgent({ rejectUnauthorized: false });
