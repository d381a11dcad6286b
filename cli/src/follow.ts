/** Copies a followed (tail=true) directory-server URL to `write` until it ends or `stop` is aborted. */
export async function followUrl(url: string, write: (text: string) => void, stop: AbortSignal, headers: Record<string, string> = {}): Promise<void> {
  try {
    const res = await fetch(url, { signal: stop, headers });
    if (!res.ok || !res.body) return;
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) write(decoder.decode(chunk, { stream: true }));
  } catch {
    // A log that cannot be followed must not fail the command that follows it.
  }
}
