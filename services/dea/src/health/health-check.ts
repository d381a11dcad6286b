import { type msg, waitForPort } from '@nap/common';
import { request } from 'node:http';

/**
 * How often a starting instance is tried: every push and every recovery waits for this check, and
 * an app is usually up a few hundred ms after its start, so a coarse poll would add to each of
 * them. One connection per 50 ms to one port on this host is nothing to the app.
 */
const STARTING_POLL_MS = 50;

function httpOk(host: string, port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * Whether a starting instance became healthy within its timeout: `port` (something accepts
 * connections), `http` (the endpoint answers 2xx) or `process` (it is still running).
 */
export async function becameHealthy(check: msg.HealthCheck, host: string, port: number, alive: () => boolean): Promise<boolean> {
  const timeoutMs = check.timeout_s * 1000;
  if (check.type === 'process') return alive();
  if (check.type === 'port') return waitForPort(host, port, timeoutMs, alive, STARTING_POLL_MS);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive()) {
    if (await httpOk(host, port, check.endpoint ?? '/')) return true;
    await new Promise((r) => setTimeout(r, STARTING_POLL_MS));
  }
  return false;
}

/** One check of a RUNNING instance: does it still pass its kind of check right now? */
export async function passesNow(check: msg.HealthCheck, host: string, port: number): Promise<boolean> {
  if (check.type === 'process') return true;
  if (check.type === 'port') return waitForPort(host, port, 1000);
  return httpOk(host, port, check.endpoint ?? '/');
}
