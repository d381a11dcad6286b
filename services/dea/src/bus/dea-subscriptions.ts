import { type Bus, channels, type Logger, msg } from '@nap/common';
import type { InstanceManager } from '../instances/instance-manager.js';
import type { StagingReservations } from '../staging/staging-reservations.js';
import { type StagingDeps, stage } from '../staging/staging-task.js';

const MAX_ERROR_CHARS = 4096;

/** What this DEA answers on the bus: its staging and start subjects, and dea.stop. */
export function subscribeDea(
  bus: Bus,
  deaId: string,
  directoryUrl: string,
  instances: InstanceManager,
  staging: StagingDeps,
  log: Logger,
  draining: () => boolean,
  stagings?: { reservations: StagingReservations; changed: () => void },
): void {
  bus.subscribe(channels.deaStart(deaId), (start) => {
    // A DEA on its way out takes nothing new: the health manager places it elsewhere.
    if (draining()) return log.warn({ app: start.app_name, index: start.index }, 'refused a start while draining');
    return instances.start(start);
  });
  bus.subscribe(channels.deaStop, (stop) => instances.stopMatching(stop));
  const stagingChannel = channels.stagingStart(deaId);
  bus.subscribe(stagingChannel, async (req, m) => {
    // Not answering at all sends the controller to another DEA at once.
    if (draining()) return;
    bus.reply(stagingChannel, m, { task_id: req.task_id, log_url: `${directoryUrl.replace(/\/+$/, '')}/staging_tasks/${req.task_id}` });
    log.info({ app: req.app_name, task_id: req.task_id }, 'staging');
    let droplet;
    stagings?.reservations.reserve(req.task_id, req.memory_mb);
    stagings?.changed();
    try {
      droplet = await stage(req, staging);
    } catch (err) {
      log.warn({ app: req.app_name, task_id: req.task_id, error: (err as Error).message }, 'staging failed');
      // A buildpack's output can make the message as long as it likes: the reply carries its end, the log has all of it.
      const error = (err as Error).message;
      bus.reply(stagingChannel, m, { task_id: req.task_id, error: error.length > MAX_ERROR_CHARS ? `…${error.slice(-MAX_ERROR_CHARS)}` : error });
      return;
    } finally {
      stagings?.reservations.release(req.task_id);
      stagings?.changed();
    }
    const first = req.start_message;
    const command = first?.command ?? droplet.start_command;
    // Instance 0 is on record as STARTING before the controller learns of the droplet.
    const starting =
      first && command ? await instances.begin({
            ...first,
            droplet_key: droplet.droplet_key,
            droplet_hash: droplet.droplet_hash,
            droplet_type: droplet.droplet_type,
            stack_variant: droplet.stack_variant,
            image_id: droplet.image_id,
            command,
          }) : null;
    bus.reply(stagingChannel, m, { task_id: req.task_id, ...droplet });
    await starting?.running;
  });
}
