export { startDea, type RunningDea } from './dea.js';
export { DockerRuntime } from './runtime/docker-runtime.js';
export { ensureContainerNetwork, type ContainerNetwork } from './network/container-network.js';
export { APP_PORT } from './network/firewall.js';
