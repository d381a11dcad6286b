import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@nap/common';
import type { DockerRuntime } from '../runtime/docker-runtime.js';
import type { Instance } from './instance.js';
import type { InstanceRegistry } from './instance-registry.js';

const MIB = 1024 * 1024;
/**
 * How often every instance's disk use is measured. What an instance can write past its quota is
 * what it writes in one interval (plus one `du`): at this disk's ~1 GB/s, about 2-3 GB, which the
 * reserve below is there to absorb.
 */
export const DISK_CHECK_INTERVAL_MS = 2_000;
/** One `du` that takes longer than this (millions of files) counts as unmeasured this round. */
const DU_TIMEOUT_MS = 30_000;

export interface DiskQuotaConfig {
  /** NAP_DEA_DISK_MB: what this DEA hands out to instances' disk quotas in all. */
  capacityMb: number;
  /** NAP_DEA_DISK_RESERVE_MB: kept free on the node's disks for etcd, JetStream and the DEA's own files. */
  reserveMb: number;
  /** The DEA's directory; its file system (and the engine's, where writable layers live) is watched. */
  deaDir: string;
  runtime: DockerRuntime;
  registry: InstanceRegistry;
  log: Logger;
  /** Stops the instance as CRASHED with this exit description. */
  exceeded: (inst: Instance, description: string) => Promise<void>;
}

/**
 * `disk_mb` enforced by measurement, as Cloud Foundry's DEA did before it had quotas in the
 * filesystem. overlay2 here sits on ext4, where Docker's `StorageOpt size` is refused (it needs
 * xfs with project quotas), so nothing in the filesystem stops a write: instead, every
 * DISK_CHECK_INTERVAL_MS the DEA adds up the blocks of what each instance can write (the
 * container's writable layer and, for a buildpack app, its app/ directory; the logs are the DEA's
 * and rotated) and stops an instance that is over its quota as CRASHED, "disk quota exceeded".
 * A start that asks for more than is free is refused, and when the node's disk falls below half
 * the reserve the biggest writer is stopped at once, whatever its quota.
 */
export class DiskQuota {
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  private readonly layers = new Map<string, string>();
  /** Free MB on the node's disks after the reserve, as last measured. */
  private freeMb = Number.POSITIVE_INFINITY;
  private engineRoot: string | null = null;

  constructor(private readonly config: DiskQuotaConfig) {}

  async start(): Promise<void> {
    this.engineRoot = await this.config.runtime.rootDir();
    await this.measureFree();
    this.timer = setInterval(() => void this.check(), DISK_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** What a new instance may still ask for: the capacity not yet promised, and what the disk really has past the reserve. */
  availableMb(exceptInstanceId?: string): number {
    const promised = this.config.registry
      .live()
      .filter((i) => i.start.instance_id !== exceptInstanceId)
      .reduce((sum, i) => sum + i.start.limits.disk_mb, 0);
    return Math.max(0, Math.floor(Math.min(this.config.capacityMb - promised, this.freeMb - this.config.reserveMb)));
  }

  /**
   * Why this DEA should take nothing new for its disk: what the node has free is under the
   * reserve kept for etcd, JetStream and the DEA's own files. Null when it has room.
   */
  fullReason(): string | null {
    if (this.freeMb >= this.config.reserveMb) return null;
    return `disk nearly full: ${Math.max(0, Math.round(this.freeMb))} MB free, under the ${this.config.reserveMb} MB reserve (NAP_DEA_DISK_RESERVE_MB); free space on the DEA's disk`;
  }

  /** Why this start cannot have its disk here, or null when it can. */
  refusal(inst: Instance): string | null {
    const available = this.availableMb(inst.start.instance_id);
    const wanted = inst.start.limits.disk_mb;
    if (wanted <= available) return null;
    return `disk quota of ${wanted} MB is more than this DEA has free (${available} MB): lower the app's disk (nap push -k, or disk_quota in the manifest), or ask an admin for a DEA with more disk`;
  }

  private async measureFree(): Promise<void> {
    const dirs = [this.config.deaDir, ...(this.engineRoot ? [this.engineRoot] : [])];
    const free = await Promise.all(dirs.map((d) => statfs(d).then((s) => (s.bavail * s.bsize) / MIB).catch(() => Number.POSITIVE_INFINITY)));
    this.freeMb = Math.min(...free);
  }

  /** One round: every live instance measured, those over quota stopped. Rounds never overlap. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const usage: { inst: Instance; usedMb: number }[] = [];
      for (const inst of this.config.registry.live()) {
        if (!inst.containerId) continue;
        const usedMb = await this.usedMb(inst, inst.containerId);
        if (usedMb === null) continue;
        usage.push({ inst, usedMb });
        const quota = inst.start.limits.disk_mb;
        if (usedMb > quota) {
          await this.config.exceeded(inst, `disk quota exceeded: the app wrote ${Math.round(usedMb)} MB, more than its ${quota} MB`);
        }
      }
      await this.measureFree();
      const floor = this.config.reserveMb / 2;
      if (this.freeMb < floor) {
        const biggest = usage.filter((u) => u.inst.state === 'STARTING' || u.inst.state === 'RUNNING').sort((a, b) => b.usedMb - a.usedMb)[0];
        if (biggest) {
          this.config.log.warn({ free_mb: Math.round(this.freeMb), instance_id: biggest.inst.start.instance_id }, 'node disk nearly full: stopping the biggest writer');
          await this.config.exceeded(
            biggest.inst,
            `disk quota exceeded: the node's disk is nearly full (${Math.round(this.freeMb)} MB left) and this instance wrote the most (${Math.round(biggest.usedMb)} MB)`,
          );
        }
      }
      for (const id of this.layers.keys()) if (!this.config.registry.live().some((i) => i.containerId === id)) this.layers.delete(id);
    } catch (err) {
      this.config.log.warn({ err }, 'disk quota check failed');
    } finally {
      this.checking = false;
    }
  }

  private async usedMb(inst: Instance, containerId: string): Promise<number | null> {
    // Only a layer the engine named is kept: a failed inspect (a busy engine) is asked again next
    // round, or the container's whole writable layer would go unmeasured for its lifetime.
    let layer = this.layers.get(containerId) ?? null;
    if (!layer) {
      layer = await this.config.runtime.writableLayer(containerId);
      if (layer) this.layers.set(containerId, layer);
    }
    const paths = [...(layer ? [layer] : []), ...(inst.start.droplet_type === 'image' ? [] : [join(inst.dir, 'app')])];
    if (paths.length === 0) return null;
    const bytes = await diskUsageBytes(paths);
    return bytes === null ? null : bytes / MIB;
  }
}

/**
 * Blocks in use under these paths (sparse files count what they hold, not what they claim),
 * each on its own file system. `du` rather than a walk in JavaScript: it is a C loop of lstat, and
 * the DEA's event loop stays free while it runs.
 */
export function diskUsageBytes(paths: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    execFile('du', ['-s', '-x', '-c', '-B1', '--', ...paths], { timeout: DU_TIMEOUT_MS, maxBuffer: 1024 * 1024 }, (_err, stdout) => {
      // du exits 1 when a file vanished while it counted: the total of the rest still stands.
      const total = /^(\d+)\s+total$/m.exec(stdout ?? '');
      resolve(total ? Number(total[1]) : null);
    });
  });
}
