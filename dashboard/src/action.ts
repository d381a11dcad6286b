import { useState } from 'preact/hooks';
import { ApiError } from './api';

export const asApiError = (err: unknown): ApiError => (err instanceof ApiError ? err : new ApiError(0, 'failed', String(err)));

export interface Action {
  /** Runs `work`: true when it worked; its error is kept for the page to show. */
  run(work: () => Promise<unknown>): Promise<boolean>;
  busy: boolean;
  error: ApiError | undefined;
}

/** A button's or form's call to the API: busy while it runs, its error kept until the next try. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  return {
    busy,
    error,
    async run(work) {
      setBusy(true);
      setError(undefined);
      try {
        await work();
        return true;
      } catch (err) {
        setError(asApiError(err));
        return false;
      } finally {
        setBusy(false);
      }
    },
  };
}
