import type { Logger } from '@nap/common';
import type { DockerRuntime } from '../runtime/docker-runtime.js';
import type { ActualStateStore } from '../store/actual-state.js';
import type { InstanceRegistry } from './instance-registry.js';

/** How often running instances' counters are read. */
const SAMPLE_EVERY_MS = 10_000;
/** A figure that has not moved is still written this often, so a reader can tell it is current. */
const REFRESH_EVERY_MS = 60_000;
const MEMORY_STEP_BYTES = 1024 * 1024;
const CPU_STEP = 0.5;

interface Sample {
  cpuNs: number;
  systemNs: number;
  written: { mem_bytes: number | null; cpu: number | null; at: number } | null;
}

/**
 * Memory and CPU of the running instances (issue 16's metrics, `nap app`'s memory column), from
 * Docker's counters every 10 s, into etcd under the DEA's lease (keys.usage), written only when a
 * figure moved (1 MB, half a percent) or a minute passed: etcd is not a time series.
 */
export class UsageSampler {
  private readonly samples = new Map<string, Sample>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: { runtime: DockerRuntime; registry: InstanceRegistry; store: ActualStateStore; log: Logger }) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sample(now = Date.now()): Promise<void> {
    const running = this.deps.registry.all().filter((i) => i.state === 'RUNNING' && i.containerId);
    const live = new Set(running.map((i) => i.start.instance_id));
    for (const id of this.samples.keys()) if (!live.has(id)) this.samples.delete(id);
    await Promise.all(
      running.map(async (inst) => {
        const id = inst.start.instance_id;
        const usage = await this.deps.runtime.usage(inst.containerId!).catch(() => null);
        if (!usage) return;
        const before = this.samples.get(id);
        const cpu =
          before && usage.cpuNs !== null && usage.systemNs !== null && usage.systemNs > before.systemNs
            ? Math.round(((usage.cpuNs - before.cpuNs) / (usage.systemNs - before.systemNs)) * usage.cpus * 1000) / 10
            : null;
        const figures = { mem_bytes: usage.memBytes, cpu, at: now };
        const last = before?.written;
        const moved =
          !last ||
          now - last.at >= REFRESH_EVERY_MS ||
          (last.cpu === null) !== (figures.cpu === null) ||
          Math.abs((figures.mem_bytes ?? 0) - (last.mem_bytes ?? 0)) >= MEMORY_STEP_BYTES ||
          Math.abs((figures.cpu ?? 0) - (last.cpu ?? 0)) >= CPU_STEP;
        let written = last ?? null;
        if (moved) {
          await this.deps.store.putUsage(inst.start.app_id, id, figures).then(
            () => (written = figures),
            (err: Error) => this.deps.log.debug({ err: err.message, instance_id: id }, 'could not write usage'),
          );
        }
        if (usage.cpuNs !== null && usage.systemNs !== null) this.samples.set(id, { cpuNs: usage.cpuNs, systemNs: usage.systemNs, written });
      }),
    );
  }
}
