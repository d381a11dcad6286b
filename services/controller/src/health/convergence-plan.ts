import type { AppRecord } from '../apps/app-record.js';
import { type ProcessSpec, processSpecs, slotKey } from '../apps/processes.js';
import type { ActualInstance } from '../store/actual-instances.js';
import { type Crashes, crashesOf } from '../store/crash-history.js';
import { CRASH_RESET_AFTER_MS, restartDelayMs } from './backoff.js';

/** What one convergence pass does to an app: a pure function of desired and actual state. */
export interface Plan {
  /** In order: the converger starts each (when a DEA has room). `replacing`: an old version's instance holds the index. */
  starts: { spec: ProcessSpec; index: number; replacing: boolean }[];
  stops: ActualInstance[];
  /** Slots whose current instance is recorded now: their pending start is done. */
  recorded: string[];
  /** Slots whose instance has run long enough since its last crash to start over with a clean record. */
  resetCrashes: string[];
  /** The soonest a crashed slot's back-off ends, when one is waiting: the converger looks again then. */
  wakeInMs: number | null;
}

export interface Actual {
  /** The app's live (STARTING or RUNNING) instances, less a staging's instance 0. */
  instances: ActualInstance[];
  crashes: Map<string, Crashes>;
  /** Whether a start was sent for this slot of this version and its record has not shown yet. */
  pending: (version: string, slot: string) => boolean;
}

/**
 * Desired + actual → starts and stops.
 * - An index whose instance runs an old version keeps it until the new one is RUNNING, and while
 *   old ones remain only one new instance starts at a time: a rolling replacement that never
 *   drops below the running count.
 * - An index that keeps crashing waits out its back-off (backoff.ts) before it is started again.
 * - Instances past the wanted count, of a type the app no longer has, or duplicates of an index
 *   (a retried start, a DEA back after its instances were replaced) are stopped. Of duplicates the
 *   running one is kept, the longest running of several: a DEA restarted a little after its lease
 *   ended adopts its containers and keeps them, and the replacements made meanwhile go.
 */
export function convergencePlan(app: AppRecord, actual: Actual, now: number): Plan {
  const plan: Plan = { starts: [], stops: [], recorded: [], resetCrashes: [], wakeInMs: null };
  const specs = processSpecs(app);
  const types = new Set(specs.map((s) => s.type));
  plan.stops.push(...actual.instances.filter((i) => !types.has(i.process_type)));
  for (const spec of specs) {
    const wanted = app.state === 'STARTED' && app.droplet && spec.command ? spec.instances : 0;
    planType(plan, app, spec, actual.instances.filter((i) => i.process_type === spec.type), wanted, actual, now);
  }
  return plan;
}

function planType(plan: Plan, app: AppRecord, spec: ProcessSpec, instances: ActualInstance[], wanted: number, actual: Actual, now: number): void {
  const slot = (index: number) => slotKey(spec.type, index);
  for (const inst of instances) if (inst.index >= wanted) plan.stops.push(inst);

  const rolling = instances.some((i) => i.index < wanted && i.version !== app.version);
  let newInFlight = 0;
  for (let index = 0; index < wanted; index++) {
    const current = instances.filter((i) => i.index === index && i.version === app.version);
    if (current.some((i) => i.state !== 'RUNNING') || (current.length === 0 && actual.pending(app.version, slot(index)))) newInFlight++;
  }

  for (let index = 0; index < wanted; index++) {
    const atIndex = instances.filter((i) => i.index === index);
    const current = atIndex.filter((i) => i.version === app.version);
    const old = atIndex.filter((i) => i.version !== app.version);
    if (current.length === 0) {
      if (actual.pending(app.version, slot(index))) continue;
      // Replacing a running old instance waits its turn; an empty index is filled at once.
      if (old.length > 0 && rolling && newInFlight >= 1) continue;
      const history = crashesOf(actual.crashes.get(slot(index)), app.version);
      const wait = history ? history.last_crash + restartDelayMs(history.count) - now : 0;
      if (wait > 0) {
        plan.wakeInMs = Math.min(plan.wakeInMs ?? wait, wait);
        continue;
      }
      plan.starts.push({ spec, index, replacing: old.length > 0 });
      if (old.length > 0) newInFlight++;
      continue;
    }
    plan.recorded.push(slot(index));
    const keep = oldestRunning(current) ?? current[0];
    plan.stops.push(...current.filter((i) => i !== keep));
    if (keep.state !== 'RUNNING') continue;
    plan.stops.push(...old);
    if (actual.crashes.has(slot(index)) && keep.started_at && now - keep.started_at > CRASH_RESET_AFTER_MS) plan.resetCrashes.push(slot(index));
  }
}

function oldestRunning(instances: ActualInstance[]): ActualInstance | undefined {
  const running = instances.filter((i) => i.state === 'RUNNING');
  const since = (i: ActualInstance) => i.started_at ?? Number.POSITIVE_INFINITY;
  return running.sort((a, b) => since(a) - since(b) || a.instance_id.localeCompare(b.instance_id))[0];
}
