/**
 * Cloud Foundry's crash policy: the first three crashes of an index restart at once; after that
 * the wait doubles from 30 s up to 16 minutes, so an app that always crashes costs next to nothing.
 */
export const IMMEDIATE_RESTARTS = 3;
const FIRST_DELAY_MS = 30_000;
const MAX_DELAY_MS = 16 * 60_000;
/** An instance that has run this long without crashing starts over with a clean record. */
export const CRASH_RESET_AFTER_MS = 60_000;

export function restartDelayMs(crashes: number): number {
  if (crashes <= IMMEDIATE_RESTARTS) return 0;
  return Math.min(FIRST_DELAY_MS * 2 ** (crashes - IMMEDIATE_RESTARTS - 1), MAX_DELAY_MS);
}
