import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { asApiError } from './action';
import type { ApiError } from './api';

export interface Live<T> {
  data: T | undefined;
  error: ApiError | undefined;
  /** Read again now (after an action), besides the interval. */
  refresh(): void;
}

/**
 * What `load` answers, read again every `everyMs` while the page shows it. A failed read keeps the
 * last data and says why; the next one that works clears the error.
 */
export function useLive<T>(load: () => Promise<T>, everyMs: number, key: string): Live<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const [tick, setTick] = useState(0);
  const refresh = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const round = async () => {
      try {
        const value = await loadRef.current();
        if (stopped) return;
        setData(value);
        setError(undefined);
      } catch (err) {
        if (stopped) return;
        setError(asApiError(err));
      }
      if (!stopped) timer = setTimeout(round, everyMs);
    };
    void round();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [key, tick, everyMs]);
  return { data, error, refresh };
}
