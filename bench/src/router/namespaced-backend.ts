// The backend of bench/router on nap's instance path: in a container of its own network namespace
// on a nap bridge network made for the bench (its own installation id, subnet and nft table),
// reached through a host port DNAT'ed by nap's rules, exactly as the router reaches an instance.
// The same backend.js and the same node binary as the host-network backend, so only the path differs.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createLogger, freePort, removeContainerNetwork } from '@nap/common';
import { APP_PORT, DockerRuntime, ensureContainerNetwork } from '@nap/dea';
import { freeContainerSubnet, repoRoot } from '@nap/testkit';

const socket = process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock';

export interface NamespacedBackend {
  hostPort: number;
  address: string;
  stop(): Promise<void>;
}

export async function startNamespacedBackend(logDir: string, stackImage = 'nap/stack:bookworm'): Promise<NamespacedBackend> {
  const installation = `bench-${randomBytes(4).toString('hex')}`;
  const subnet = await freeContainerSubnet();
  const network = await ensureContainerNetwork(new DockerRuntime(socket, installation), installation, subnet, createLogger('bench', 'warn'));
  const runtime = new DockerRuntime(socket, installation, network.name);
  let id: string | null = null;
  const stop = async () => {
    if (id) await runtime.remove(id);
    await removeContainerNetwork(installation, socket);
  };
  try {
    const started = await runtime.start(
      {
        name: `nap-bench-backend-${installation}`,
        image: stackImage,
        cmd: ['/usr/local/bin/node-bench', '/bench/dist/src/router/backend.js', String(APP_PORT), '0.0.0.0'],
        entrypoint: [],
        env: {},
        binds: [`${process.execPath}:/usr/local/bin/node-bench:ro`, `${join(repoRoot, 'bench')}:/bench:ro`],
        memoryMb: 1024,
        labels: { 'nap.kind': 'bench' },
      },
      { stdout: join(logDir, 'ns-backend.out.log'), stderr: join(logDir, 'ns-backend.err.log'), maxBytes: 1024 * 1024 },
    );
    id = started.id;
    const address = await runtime.addressOf(id);
    if (!address) throw new Error(`the bench backend has no address on ${network.name}`);
    const hostPort = await freePort();
    await network.firewall.map({ hostPort, address, port: APP_PORT });
    return { hostPort, address, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
