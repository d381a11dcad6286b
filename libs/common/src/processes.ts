import { spawn } from 'node:child_process';
import { chmodSync, closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { natsAuthorizationBlock, type NatsUser } from './engines/nats-auth.js';
import { ENGINES_CN } from './engines/tls.js';

/** Starts a program in its own session with its output in `logFile`, so it outlives the caller. Returns its pid. */
export function spawnDetached(command: string, args: string[], opts: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): number {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: opts.env ?? process.env, cwd: opts.cwd });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie has exited; only its parent has not reaped it yet. An orphan's parent is init, which
  // on some machines reaps every few seconds: `nap down` waited 2 s per program for that.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return true;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopPid(pid: number, graceMs = 15_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 20));
  }
}

function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

/**
 * Waits until something accepts connections on host:port. `alive` lets the caller stop waiting
 * as soon as the process behind the port is known dead, instead of sitting out the timeout.
 */
export async function waitForPort(host: string, port: number, timeoutMs: number, alive: () => boolean = () => true, maxDelayMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = Math.min(25, maxDelayMs);
  while (Date.now() < deadline && alive()) {
    if (await tryConnect(host, port)) return true;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, maxDelayMs);
  }
  return false;
}

/** A port nothing listens on right now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * nats-server on loopback with JetStream (the blobstore) and users: the bus is never open. Either
 * one user for everything (tools, benchmarks) or the platform's users with their permissions
 * (natsUsersOf). Passwords go in a config file only root can read, never on the command line
 * where `ps` shows them.
 */
export function natsServerArgs(
  o: {
    port: number;
    storeDir: string;
    configFile: string;
    host?: string;
    /** JetStream's cap on its file store; unset: nats-server's own (75 % of the disk's free space). */
    maxStoreMb?: number;
    /**
     * With peers, one server of a cluster (JetStream clustered). Without, it runs alone: nats-server
     * refuses clustered JetStream without a route, and a server that goes from alone to clustered
     * keeps its streams (they become the cluster's, with it as their leader).
     */
    cluster?: { serverName: string; port: number; peers: string[]; user: string; password: string };
    /** Clients must speak TLS (checked against the CA by them); routes are mutual TLS. */
    tls?: { ca: string; cert: string; key: string };
  } & (
    | { user: string; password: string }
    | { users: NatsUser[] }
  ),
): string[] {
  const users = 'users' in o ? o.users : [{ user: o.user, password: o.password }];
  const host = o.host ?? '127.0.0.1';
  const cluster = o.cluster?.peers.length ? o.cluster : null;
  const tlsBlock = (verify: boolean) =>
    o.tls ? ` tls { cert_file: ${JSON.stringify(o.tls.cert)}, key_file: ${JSON.stringify(o.tls.key)}, ca_file: ${JSON.stringify(o.tls.ca)}, verify: ${verify}, timeout: 2 }` : '';
  const config = [
    ...(cluster
      ? [
          `server_name: ${JSON.stringify(cluster.serverName)}`,
          `cluster { name: "nap", listen: "${host}:${cluster.port}",${o.tls ? `${tlsBlock(true)},` : ''} authorization { user: ${JSON.stringify(cluster.user)}, password: ${JSON.stringify(cluster.password)} }, routes: [${cluster.peers
            .map((p) => JSON.stringify(`nats-route://${cluster.user}:${cluster.password}@${p}:${cluster.port}`))
            .join(', ')}] }`,
        ]
      : []),
    `listen: "${host}:${o.port}"`,
    ...(o.tls ? [tlsBlock(false).trim()] : []),
    `jetstream { store_dir: ${JSON.stringify(o.storeDir)}${o.maxStoreMb ? `, max_file_store: ${o.maxStoreMb}MB` : ''} }`,
    natsAuthorizationBlock(users),
    '',
  ].join('\n');
  writeFileSync(o.configFile, config, { mode: 0o600 });
  chmodSync(o.configFile, 0o600);
  return ['-c', o.configFile];
}

/**
 * An etcd member: alone (a cluster of one), or, with `initialCluster`, one that was added to a
 * running cluster (as a learner, by the controller at `nap join`) and joins it.
 */
export function etcdArgs(o: {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  host?: string;
  initialCluster?: string;
  /** Clients over TLS (they log in with a password, as without); peers over mutual TLS, engines nodes only. */
  tls?: { ca: string; cert: string; key: string };
}): string[] {
  const host = o.host ?? '127.0.0.1';
  const scheme = o.tls ? 'https' : 'http';
  const client = `${scheme}://${host}:${o.clientPort}`;
  const peer = `${scheme}://${host}:${o.peerPort}`;
  return [
    ...(o.tls
      ? ['--cert-file', o.tls.cert, '--key-file', o.tls.key, '--peer-cert-file', o.tls.cert, '--peer-key-file', o.tls.key, '--peer-trusted-ca-file', o.tls.ca, '--peer-client-cert-auth', '--peer-cert-allowed-cn', ENGINES_CN]
      : []),
    ...(o.initialCluster ? ['--initial-cluster-state', 'existing'] : []),
    '--name', o.name,
    '--data-dir', o.dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', o.initialCluster ?? `${o.name}=${peer}`,
    '--logger', 'zap',
    '--log-level', 'warn',
    // Without it every change's old revisions are kept forever, until the 2 GiB quota makes etcd
    // read-only (each env change rewrites an app's record). An hour of history is what watches need.
    '--auto-compaction-mode', 'periodic',
    '--auto-compaction-retention', '1h',
    // nap's clients ping every second to find a dead member fast (etcd.ts); etcd's default refuses
    // pings under 5 s apart, and a limit equal to the clients' interval would count timer jitter as abuse.
    '--grpc-keepalive-min-time', '500ms',
  ];
}
