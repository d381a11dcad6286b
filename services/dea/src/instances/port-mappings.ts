import type { ContainerNetwork } from '../network/container-network.js';
import { APP_PORT } from '../network/firewall.js';
import type { DockerRuntime } from '../runtime/docker-runtime.js';
import type { Instance } from './instance.js';
import type { PortAllocator } from './port-allocator.js';

/** The router, other hosts and the health checks reach an app at host:port, DNAT'ed to its container's APP_PORT. */
export class PortMappings {
  constructor(
    private readonly runtime: DockerRuntime,
    private readonly network: ContainerNetwork,
    private readonly ports: PortAllocator,
    /** This DEA's NAP_DEA_PORT_RANGE: the host ports whose mappings are its own to reconcile. */
    private readonly range: [number, number],
  ) {}

  async map(inst: Instance): Promise<void> {
    const address = await this.runtime.addressOf(inst.containerId!);
    if (!address) throw new Error(`the container has no address on ${this.network.name}`);
    await this.network.firewall.map({ hostPort: inst.port!, address, port: APP_PORT });
  }

  async release(inst: Instance): Promise<void> {
    if (inst.port === null) return;
    await this.network.firewall.unmap(inst.port);
    this.ports.release(inst.port);
  }

  /**
   * After adoption: the mappings of this DEA's port range are exactly its live instances' (a
   * mapping left by a container that died with the previous run would lead a reused port to
   * whoever gets that address next).
   */
  async reconcile(live: Instance[]): Promise<void> {
    const [lo, hi] = this.range;
    const ports = new Set(live.map((i) => i.port));
    const { firewall } = this.network;
    for (const m of await firewall.mappings()) {
      if (m.hostPort >= lo && m.hostPort <= hi && !ports.has(m.hostPort)) await firewall.unmap(m.hostPort);
    }
  }
}
