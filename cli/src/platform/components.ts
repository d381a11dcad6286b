import { join } from 'node:path';
import { type EngineClient, etcdArgs, NATS_ROUTE_USER, natsServerArgs, type NatsUser, nodeIdOf, type NodeRole, type Settings } from '@nap/common';

export const repoRoot = new URL('../../../../', import.meta.url).pathname;

export type Secret = 'NAP_ADMIN_TOKEN' | 'NAP_DIRECTORY_SECRET' | 'NAP_ROUTER_STATUS_PASSWORD' | 'NAP_CERT_KEY';

/** One program `nap up` runs: how to start it, the port that says it is up, and a word of its command line to recognise it by. */
export interface Component {
  name: string;
  /** The node role it belongs to: a node runs the programs of its roles only. */
  role: NodeRole;
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

function service(name: string, role: NodeRole, main: string, port: number, secrets: Secret[] = [], engineUser?: EngineClient): Component {
  const path = join(repoRoot, main);
  return { name, role, secrets, engineUser, command: process.execPath, args: [path], port, marker: path };
}

/**
 * This node's programs (those of its roles), in start order; `nap down` stops them in reverse.
 * Engines bind the node's address. With the platform's NATS users, the NATS config is written
 * (without them, for down and status, nothing is).
 */
export function components(settings: Settings, natsUsers: NatsUser[] | null, opts: { everyRole?: boolean; routePassword?: string } = {}): Component[] {
  const routePassword = opts.routePassword;
  const natsPort = portOf(settings.natsUrls[0]);
  const etcdPort = portOf(settings.etcdUrls[0]);
  const host = settings.nodeAddress;
  const tls = settings.tls?.cert && settings.tls.key ? { ca: settings.tls.ca, cert: settings.tls.cert, key: settings.tls.key } : undefined;
  const all: Component[] = [
    {
      name: 'nats',
      role: 'engines',
      secrets: [],
      command: 'nats-server',
      args: natsUsers
        ? natsServerArgs({
            host,
            port: natsPort,
            storeDir: join(settings.home, 'nats'),
            users: natsUsers,
            configFile: natsConfigFile(settings),
            cluster: routePassword ? { serverName: nodeIdOf(host), port: settings.natsClusterPort, peers: settings.natsPeers, user: NATS_ROUTE_USER, password: routePassword } : undefined,
            tls,
          })
        : [],
      port: natsPort,
      marker: 'nats-server',
    },
    {
      name: 'etcd',
      role: 'engines',
      secrets: [],
      command: 'etcd',
      // The first node's member keeps the name it always had; a joined one is named after its node.
      args: etcdArgs({
        name: settings.etcdInitialCluster ? nodeIdOf(host) : 'nap',
        host,
        dataDir: join(settings.home, 'etcd'),
        clientPort: etcdPort,
        peerPort: etcdPort + 1,
        initialCluster: settings.etcdInitialCluster,
        tls,
      }),
      port: etcdPort,
      marker: 'etcd',
    },
    service('router', 'router', 'services/router/dist/src/main.js', settings.routerPort, ['NAP_ROUTER_STATUS_PASSWORD', 'NAP_CERT_KEY'], 'router'),
    service('directory', 'dea', 'services/directory/dist/src/main.js', settings.directoryPort, ['NAP_DIRECTORY_SECRET']),
    service('controller', 'controller', 'services/controller/dist/src/main.js', settings.controllerPort, ['NAP_ADMIN_TOKEN', 'NAP_DIRECTORY_SECRET', 'NAP_CERT_KEY'], 'controller'),
    service('dea', 'dea', 'services/dea/dist/src/main.js', 0, [], 'dea'),
  ];
  return opts.everyRole ? all : all.filter((c) => settings.nodeRoles.includes(c.role));
}
