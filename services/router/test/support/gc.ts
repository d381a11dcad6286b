import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** A full collection, so that heap measurements compare live objects only. */
export function gc(): void {
  collect();
  collect();
}
