/** One message of the JSON stream Docker answers /build and /images/load with. */
export interface EngineMessage {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/**
 * Reads an engine progress stream to its end, one message at a time. Docker reports a failed build
 * or load inside a 200 answer, so the caller must look at `error` in the messages, not at the status.
 */
export async function readProgress(stream: NodeJS.ReadableStream, onMessage: (m: EngineMessage) => void): Promise<void> {
  let pending = '';
  const flush = (line: string) => {
    const text = line.trim();
    if (!text) return;
    try {
      onMessage(JSON.parse(text) as EngineMessage);
    } catch {
      onMessage({ stream: `${text}\n` });
    }
  };
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) flush(line);
  }
  flush(pending);
}

/** The text of an engine error message, or null. */
export function engineError(m: EngineMessage): string | null {
  const text = m.error ?? m.errorDetail?.message;
  return text ? text.trim() : null;
}
