import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdArgs, freePort, natsServerArgs, spawnDetached, stopPid, waitForPort } from '@nap/common';

export { freePort };

export async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface NatsServer {
  url: string;
  port: number;
  user: string;
  password: string;
  /** The settings a router or test bus needs to reach it. */
  env: Record<string, string>;
  pid(): number | undefined;
  /** Stops the server (SIGTERM, by pid) and keeps its directory, so start() can bring it back on the same port. */
  pause(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A real nats-server on a free loopback port, with a user (the bus is never open), in a temp dir removed on stop. */
export async function startNatsServer(): Promise<NatsServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nap-router-nats-'));
  const user = 'nap';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  let pid: number | undefined;
  let watcher: number | undefined;
  const start = async () => {
    const args = natsServerArgs({ port, storeDir: join(dir, 'js'), user, password, configFile: join(dir, 'nats.conf') });
    const started = spawnDetached('nats-server', args, { logFile: join(dir, 'nats.log') });
    pid = started;
    // If this test process is killed before it can stop the server, the server follows it (by pid).
    watcher = spawnDetached('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${started} 2>/dev/null`], {
      logFile: '/dev/null',
    });
    if (!(await waitForPort('127.0.0.1', port, 10_000))) throw new Error(`nats-server did not listen on ${port}`);
  };
  const pause = async () => {
    if (pid !== undefined) await stopPid(pid, 5000);
    if (watcher !== undefined) await stopPid(watcher, 1000);
    pid = undefined;
    watcher = undefined;
  };
  const url = `nats://127.0.0.1:${port}`;
  const server: NatsServer = {
    url,
    port,
    user,
    password,
    env: { NAP_NATS_URL: url, NAP_NATS_USER: user, NAP_NATS_PASSWORD: password },
    pid: () => pid,
    pause,
    start,
    stop: async () => {
      await pause();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await start();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

export interface EtcdServer {
  url: string;
  env: Record<string, string>;
  /** Stops etcd (SIGTERM, by pid) and keeps its data, so start() brings it back on the same port. */
  pause(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A real single-member etcd on free loopback ports, in a temp dir removed on stop. */
export async function startEtcdServer(): Promise<EtcdServer> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nap-router-etcd-'));
  let pid: number | undefined;
  let watcher: number | undefined;
  const start = async () => {
    const started = spawnDetached('etcd', etcdArgs({ name: 'router-test', dataDir: join(dir, 'data'), clientPort, peerPort }), { logFile: join(dir, 'etcd.log') });
    pid = started;
    watcher = spawnDetached('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${started} 2>/dev/null`], { logFile: '/dev/null' });
    if (!(await waitForPort('127.0.0.1', clientPort, 15_000))) throw new Error(`etcd did not listen on ${clientPort}`);
  };
  const pause = async () => {
    if (pid !== undefined) await stopPid(pid, 5000);
    if (watcher !== undefined) await stopPid(watcher, 1000);
    pid = undefined;
    watcher = undefined;
  };
  const url = `http://127.0.0.1:${clientPort}`;
  const server: EtcdServer = {
    url,
    env: { NAP_ETCD_URLS: url },
    pause,
    start,
    stop: async () => {
      await pause();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await start();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
