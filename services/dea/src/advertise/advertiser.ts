import { type Bus, channels, type Logger } from '@nap/common';
import type { InstanceRegistry } from '../instances/instance-registry.js';

const ADVERTISE_INTERVAL_MS = 5_000;

export interface AdvertiserConfig {
  deaId: string;
  host: string;
  zone: string;
  stacks: string[];
  memoryMb: number;
  diskMb: number;
  directoryUrl: string;
  /** Memory held by stagings running here (it is as taken as an instance's). */
  stagingMemoryMb?: () => number;
  /** Disk a new instance may still ask for (the disk quota's view); else diskMb minus what instances hold. */
  availableDiskMb?: () => number;
  /** Why this DEA cannot take anything new now (a full disk, Docker away), or null. */
  unavailable?: () => string | null;
  log?: Logger;
}

/** dea.advertise every 5 s, at once on dea.locate, and whenever what this DEA holds changes. */
export class Advertiser {
  private timer: NodeJS.Timeout | null = null;
  private draining = false;
  private lastUnavailable: string | null = null;

  constructor(
    private readonly bus: Bus,
    private readonly registry: InstanceRegistry,
    private readonly config: AdvertiserConfig,
  ) {}

  start(): void {
    this.bus.subscribe(channels.deaLocate, () => this.advertise());
    this.timer = setInterval(() => this.advertise(), ADVERTISE_INTERVAL_MS);
    this.timer.unref();
    this.advertise();
  }

  /** A DEA that is shutting down advertises no room, so nothing new is placed on it. */
  drain(): void {
    this.draining = true;
    this.advertise();
  }

  advertise(): void {
    const { deaId, host, zone, stacks, memoryMb, diskMb, directoryUrl } = this.config;
    const unavailable = this.draining ? 'shutting down' : (this.config.unavailable?.() ?? null);
    this.noteAvailability(unavailable);
    this.bus.publish(channels.deaAdvertise, {
      id: deaId,
      host,
      zone,
      stacks,
      available_memory_mb: unavailable ? 0 : memoryMb - this.registry.reservedMemoryMb() - (this.config.stagingMemoryMb?.() ?? 0),
      memory_mb: memoryMb,
      available_disk_mb: unavailable ? 0 : (this.config.availableDiskMb?.() ?? diskMb - this.registry.reservedDiskMb()),
      app_id_to_count: this.registry.countsByApp(),
      directory_url: directoryUrl,
      ...(unavailable ? { unavailable: unavailable.slice(0, 500) } : {}),
    });
  }

  /** A line when the DEA stops taking work and one when it takes it again, not one per advertisement. */
  private noteAvailability(unavailable: string | null): void {
    // Keyed by the kind of reason: the figures in it (MB free) change with every measurement.
    const kind = unavailable?.split(':')[0] ?? null;
    if (kind === this.lastUnavailable) return;
    if (unavailable && !this.draining) this.config.log?.warn({ why: unavailable }, 'advertising no room');
    else if (!unavailable) this.config.log?.info('advertising room again');
    this.lastUnavailable = kind;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
