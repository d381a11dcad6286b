import { session } from './session';

/** An answer of the API that is not a success, with the API's own code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A raw request to the API as the signed-in user: for bodies read as they come (a followed log). */
export function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const token = session.token();
  return fetch(path, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
}

/** The controller's REST API (docs/contract.md §2), on the dashboard's own origin, as the signed-in user. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const token = session.token();
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'The nap API does not answer: check that the controller is up (nap status), then try again.');
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? 'http_error', e?.message ?? `The API answered ${res.status}.`);
  }
  return json as T;
}

const prefetched = new Map<string, Promise<unknown>>();

/** Starts a GET at once (before the page that reads it is shown), so the first view does not wait for sign-in's round trip. */
export function prefetch(path: string): void {
  const pending = api('GET', path);
  pending.catch(() => {});
  prefetched.set(path, pending);
}

/** A GET, taking the prefetched answer when there is one (once). */
export function getOnce<T>(path: string): Promise<T> {
  const pending = prefetched.get(path);
  prefetched.delete(path);
  return (pending as Promise<T> | undefined) ?? api<T>('GET', path);
}
