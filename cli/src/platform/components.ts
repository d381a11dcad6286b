import { join } from 'node:path';
import { etcdArgs, natsServerArgs, type Settings } from '@nap/common';

export const repoRoot = new URL('../../../../', import.meta.url).pathname;

/** One program `nap up` runs: how to start it, the port that says it is up, and a word of its command line to recognise it by. */
export interface Component {
  name: string;
  command: string;
  args: string[];
  port: number;
  marker: string;
}

function portOf(url: string): number {
  return Number(new URL(url.replace(/^nats:/, 'http:')).port);
}

function service(name: string, main: string, port: number): Component {
  const path = join(repoRoot, main);
  return { name, command: process.execPath, args: [path], port, marker: path };
}

/** In start order; `nap down` stops them in reverse. */
export function components(settings: Settings, natsPassword: string): Component[] {
  const natsPort = portOf(settings.natsUrls[0]);
  const etcdPort = portOf(settings.etcdUrls[0]);
  return [
    {
      name: 'nats',
      command: 'nats-server',
      args: natsServerArgs({ port: natsPort, storeDir: join(settings.home, 'nats'), user: 'nap', password: natsPassword }),
      port: natsPort,
      marker: 'nats-server',
    },
    {
      name: 'etcd',
      command: 'etcd',
      args: etcdArgs({ name: 'nap', dataDir: join(settings.home, 'etcd'), clientPort: etcdPort, peerPort: etcdPort + 1 }),
      port: etcdPort,
      marker: 'etcd',
    },
    service('router', 'services/router/dist/src/main.js', settings.routerPort),
    service('directory', 'services/directory/dist/src/main.js', settings.directoryPort),
    service('controller', 'services/controller/dist/src/main.js', settings.controllerPort),
    service('dea', 'services/dea/dist/src/main.js', 0),
  ];
}
