import { type Bus, channels, type Logger, type msg } from '@nap/common';
import type { ActualStateStore } from '../store/actual-state.js';
import { type Instance, isLive } from './instance.js';

/** What the rest of nap learns of an instance: its record in etcd (actual state), and droplet.exited when it ends. */
export class InstanceReports {
  constructor(
    private readonly deaId: string,
    private readonly host: string,
    private readonly store: ActualStateStore,
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  async record(inst: Instance): Promise<void> {
    await this.store
      .put({
        app_id: inst.start.app_id,
        app_name: inst.start.app_name,
        version: inst.start.version,
        index: inst.start.index,
        instance_id: inst.start.instance_id,
        process_type: inst.start.process_type,
        state: inst.evacuating && isLive(inst) ? 'STOPPING' : inst.state,
        host: this.host,
        port: inst.port ?? 0,
        dea_id: this.deaId,
        since: inst.stateTimestamp,
        started_at: inst.startedAt,
        exit_status: inst.exitStatus,
        exit_description: inst.exitDescription,
        mem_bytes: null,
        cpu: null,
      })
      .catch((err) => this.log.warn({ err }, 'could not record instance state in etcd'));
  }

  async remove(inst: Instance): Promise<void> {
    await this.store.remove(inst.start.app_id, inst.start.instance_id).catch(() => {});
  }

  exited(inst: Instance, reason: msg.DropletExited['reason']): void {
    this.bus.publish(channels.dropletExited, {
      app_id: inst.start.app_id,
      version: inst.start.version,
      index: inst.start.index,
      instance_id: inst.start.instance_id,
      process_type: inst.start.process_type,
      reason,
      exit_status: inst.exitStatus,
      exit_description: inst.exitDescription ?? (reason === 'STOPPED' ? 'stopped' : reason.toLowerCase()),
      crash_timestamp: Math.floor(inst.stateTimestamp / 1000),
    });
  }
}
