import { type Bus, msg, subjects } from '@nap/common';
import type { InstanceRegistry } from '../instances/instance-registry.js';

const HEARTBEAT_INTERVAL_MS = 5_000;

/** dea.heartbeat: the state of every instance this DEA holds, for the health manager. */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly bus: Bus,
    private readonly registry: InstanceRegistry,
    private readonly deaId: string,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.beat(), HEARTBEAT_INTERVAL_MS);
    this.timer.unref();
    this.beat();
  }

  beat(): void {
    this.bus.publish(subjects.deaHeartbeat, msg.DeaHeartbeat, {
      dea_id: this.deaId,
      instances: this.registry.all().map((i) => ({
        app_id: i.start.app_id,
        version: i.start.version,
        index: i.start.index,
        instance_id: i.start.instance_id,
        process_type: i.start.process_type,
        state: i.state,
        state_timestamp: i.stateTimestamp,
      })),
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
