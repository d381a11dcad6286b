import type { NapFetch } from './http.js';

/**
 * Copies a followed (tail=true) directory-server URL to `write` until it ends or `stop` is aborted.
 * False when it could not be followed at all (not there yet, the node unreachable): worth another try.
 */
export async function followUrl(fetch: NapFetch, url: string, write: (text: string) => void, stop: AbortSignal, headers: Record<string, string> = {}): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: stop, headers });
    if (!res.ok || !res.body) return false;
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) write(decoder.decode(chunk, { stream: true }));
    return true;
  } catch {
    // A log that cannot be followed must not fail the command that follows it.
    return stop.aborted;
  }
}
