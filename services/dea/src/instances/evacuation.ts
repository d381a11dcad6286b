import type { Logger } from '@nap/common';
import type { RouteAnnouncer } from '../routing/route-announcer.js';
import type { ActualStateStore } from '../store/actual-state.js';
import type { Instance } from './instance.js';
import type { InstanceRegistry } from './instance-registry.js';

export interface EvacuationDeps {
  registry: InstanceRegistry;
  store: ActualStateStore;
  announcer: RouteAnnouncer;
  log: Logger;
  /** Records the instance as it is now (evacuating: STOPPING while it still serves). */
  record(inst: Instance): Promise<void>;
  stop(inst: Instance): Promise<void>;
}

/**
 * SIGTERM on a DEA: every instance is marked STOPPING (still serving) so the health manager
 * starts a replacement elsewhere; once each has one RUNNING (or the time is up) its routes are
 * withdrawn, and only then is it stopped. An app with instances on other nodes never stops
 * answering.
 */
export async function evacuate(deps: EvacuationDeps, timeoutMs: number): Promise<void> {
  const leaving = deps.registry.live();
  // Alone (a single node going down), there is nowhere to evacuate to.
  if ((await deps.store.otherDeas().catch(() => 0)) === 0) timeoutMs = 0;
  for (const inst of leaving) {
    inst.evacuating = true;
    await deps.record(inst);
  }
  const deadline = Date.now() + timeoutMs;
  const replaced = async (i: Instance) => deps.store.runningElsewhere(i.start.app_id, i.start.version, i.start.index).catch(() => false);
  let waiting = leaving.filter((i) => i.state === 'RUNNING');
  while (waiting.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const done = await Promise.all(waiting.map(replaced));
    waiting = waiting.filter((_, n) => !done[n]);
  }
  if (waiting.length > 0) deps.log.warn({ instances: waiting.map((i) => i.start.instance_id) }, 'evacuating without replacements');
  for (const inst of leaving) if (inst.state === 'RUNNING') deps.announcer.unregister(inst);
  // Routers drop the routes on the unregister they just got; requests already on the way finish.
  await new Promise((r) => setTimeout(r, 500));
  await Promise.all(leaving.map((i) => deps.stop(i)));
}
