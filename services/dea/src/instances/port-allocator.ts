import { createServer } from 'node:net';

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ports for app instances from NAP_DEA_PORT_RANGE: never one held by another instance or anything else on the host. */
export class PortAllocator {
  private readonly held = new Set<number>();
  private next: number;

  constructor(private readonly range: [number, number]) {
    this.next = range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1));
  }

  hold(port: number): void {
    this.held.add(port);
  }

  release(port: number): void {
    this.held.delete(port);
  }

  async allocate(): Promise<number> {
    const [lo, hi] = this.range;
    const size = hi - lo + 1;
    for (let tried = 0; tried < size; tried++) {
      const port = this.next;
      this.next = port >= hi ? lo : port + 1;
      if (this.held.has(port)) continue;
      if (await bindable(port)) {
        this.held.add(port);
        return port;
      }
    }
    throw new Error(`no free port in NAP_DEA_PORT_RANGE ${lo}-${hi}`);
  }
}
