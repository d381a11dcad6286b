import { NapError } from '@nap/common';

/**
 * PUT /v1/apps/:name through the controller's own API with the pusher's token: a git push creates
 * and configures its app by exactly the checks `nap push` meets (ownership, route claims,
 * buildpack URLs, quotas), which live in one place, the apps router.
 */
export async function putAppAs(apiUrl: string, name: string, body: Record<string, unknown>, token: string): Promise<void> {
  const res = await fetch(`${apiUrl}/v1/apps/${name}`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  if (res.ok) {
    await res.body?.cancel();
    return;
  }
  const answer = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  throw new NapError(res.status, answer?.error?.code ?? 'refused', answer?.error?.message ?? `PUT /v1/apps/${name} answered ${res.status}`);
}
