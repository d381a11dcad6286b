// The backend of bench/router in a container, as an app instance runs, on either path:
// - 'namespace' (nap's instance path since issue 11): the container's own network namespace on a
//   nap bridge network made for the bench (its own installation id, subnet and nft table), reached
//   through a host port DNAT'ed by nap's rules, exactly as the router reaches an instance;
// - 'host' (the path before): the container on the host's network, listening on a host port.
// Same backend.js, same node binary, same cgroup treatment: only the network path differs.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createLogger, freePort, removeContainerNetwork } from '@nap/common';
import { APP_PORT, DockerRuntime, ensureContainerNetwork } from '@nap/dea';
import { freeContainerSubnet, repoRoot } from '@nap/testkit';

const socket = process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock';

export interface ContainerBackend {
  /** Where the router reaches it: 127.0.0.1 and this port. */
  hostPort: number;
  stop(): Promise<void>;
}

export async function startContainerBackend(path: 'namespace' | 'host', logDir: string, stackImage = 'nap/stack:bookworm'): Promise<ContainerBackend> {
  const installation = `bench-${randomBytes(4).toString('hex')}`;
  const network =
    path === 'namespace'
      ? await ensureContainerNetwork(new DockerRuntime(socket, installation), installation, await freeContainerSubnet(), createLogger('bench', 'warn'))
      : null;
  const runtime = new DockerRuntime(socket, installation, network?.name ?? 'host');
  let id: string | null = null;
  const stop = async () => {
    if (id) await runtime.remove(id);
    if (network) await removeContainerNetwork(installation, socket);
  };
  try {
    const hostPort = await freePort();
    const [port, address] = network ? [APP_PORT, '0.0.0.0'] : [hostPort, '127.0.0.1'];
    const started = await runtime.start(
      {
        name: `nap-bench-backend-${path}-${installation}`,
        image: stackImage,
        cmd: ['/usr/local/bin/node-bench', '/bench/dist/src/router/backend.js', String(port), address],
        entrypoint: [],
        env: {},
        binds: [`${process.execPath}:/usr/local/bin/node-bench:ro`, `${join(repoRoot, 'bench')}:/bench:ro`],
        memoryMb: 1024,
        labels: { 'nap.kind': 'bench' },
      },
      { stdout: join(logDir, `${path}-backend.out.log`), stderr: join(logDir, `${path}-backend.err.log`), maxBytes: 1024 * 1024 },
    );
    id = started.id;
    if (network) {
      const containerAddress = await runtime.addressOf(id);
      if (!containerAddress) throw new Error(`the bench backend has no address on ${network.name}`);
      await network.firewall.map({ hostPort, address: containerAddress, port: APP_PORT });
    }
    return { hostPort, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
