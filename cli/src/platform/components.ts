import { join } from 'node:path';
import { type EngineClient, etcdArgs, natsServerArgs, type NatsUser, type Settings } from '@nap/common';

export const repoRoot = new URL('../../../../', import.meta.url).pathname;

export type Secret = 'NAP_ADMIN_TOKEN' | 'NAP_DIRECTORY_SECRET' | 'NAP_ROUTER_STATUS_PASSWORD';

/** One program `nap up` runs: how to start it, the port that says it is up, and a word of its command line to recognise it by. */
export interface Component {
  name: string;
  /** The secrets this program is given; the others never reach it. */
  secrets: Secret[];
  /** Whose etcd and NATS users it runs with; none for a program that talks to neither. */
  engineUser?: EngineClient;
  command: string;
  args: string[];
  port: number;
  marker: string;
}

export function natsConfigFile(settings: Settings): string {
  return join(settings.home, 'nats.conf');
}

function portOf(url: string): number {
  return Number(new URL(url.replace(/^nats:/, 'http:')).port);
}

function service(name: string, main: string, port: number, secrets: Secret[] = [], engineUser?: EngineClient): Component {
  const path = join(repoRoot, main);
  return { name, secrets, engineUser, command: process.execPath, args: [path], port, marker: path };
}

/**
 * In start order; `nap down` stops them in reverse. With the platform's NATS users, the NATS
 * config is written (without them, for down and status, nothing is).
 */
export function components(settings: Settings, natsUsers: NatsUser[] | null): Component[] {
  const natsPort = portOf(settings.natsUrls[0]);
  const etcdPort = portOf(settings.etcdUrls[0]);
  return [
    {
      name: 'nats',
      secrets: [],
      command: 'nats-server',
      args: natsUsers ? natsServerArgs({ port: natsPort, storeDir: join(settings.home, 'nats'), users: natsUsers, configFile: natsConfigFile(settings) }) : [],
      port: natsPort,
      marker: 'nats-server',
    },
    {
      name: 'etcd',
      secrets: [],
      command: 'etcd',
      args: etcdArgs({ name: 'nap', dataDir: join(settings.home, 'etcd'), clientPort: etcdPort, peerPort: etcdPort + 1 }),
      port: etcdPort,
      marker: 'etcd',
    },
    service('router', 'services/router/dist/src/main.js', settings.routerPort, ['NAP_ROUTER_STATUS_PASSWORD'], 'router'),
    service('directory', 'services/directory/dist/src/main.js', settings.directoryPort, ['NAP_DIRECTORY_SECRET']),
    service('controller', 'services/controller/dist/src/main.js', settings.controllerPort, ['NAP_ADMIN_TOKEN', 'NAP_DIRECTORY_SECRET'], 'controller'),
    service('dea', 'services/dea/dist/src/main.js', 0, [], 'dea'),
  ];
}
