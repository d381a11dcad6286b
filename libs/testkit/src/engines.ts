import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ENGINE_CLIENTS,
  type EngineClient,
  type EngineCredentials,
  engineEnvOf,
  ensureEtcdAuth,
  etcdArgs,
  freePort,
  isAlive,
  loadEngineCredentials,
  natsServerArgs,
  natsUsersOf,
  spawnDetached,
  stopPid,
  waitForPort,
} from '@nap/common';

/**
 * Real nats-server and etcd for a test, on free loopback ports in a temp dir, with auth set up as
 * `nap up` does it (the same code: a user per platform program); stopped by pid.
 */
export interface Engines {
  dir: string;
  natsUrl: string;
  /** A test-only NATS user with every permission, for tests that watch the bus or the blobstore from outside. */
  natsUser: string;
  natsPassword: string;
  etcdUrl: string;
  /** The engines' URLs with the controller's credentials: what a test that runs a controller (or reads etcd as one) needs. */
  env: Record<string, string>;
  /** The engines' URLs with each program's own credentials. */
  envOf: Record<EngineClient, Record<string, string>>;
  credentials: EngineCredentials;
  /** Stops etcd and starts it again on the same data and port (auth stays on). */
  restartEtcd(): Promise<void>;
  /** `kill -9` of etcd, as a crash would; `startEtcd` brings it back on the same data and port. */
  killEtcd(): Promise<void>;
  startEtcd(): Promise<void>;
  /** `kill -9` of nats-server; `startNats` brings it back with the same config, port and JetStream store. */
  killNats(): Promise<void>;
  startNats(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A free port can be taken by someone else between our check and the engine binding it; then the
 * engine dies at once, and a second try with new ports is all it takes.
 */
export interface EngineOptions {
  /** JetStream's file store cap, to fill the blobstore on purpose. */
  jetstreamMaxMb?: number;
}

export async function startEngines(options: EngineOptions = {}, attempts = 3): Promise<Engines> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEnginesOnce(options);
    } catch (err) {
      if (attempt >= attempts) throw err;
    }
  }
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-10).join('\n');
}

async function startEnginesOnce(options: EngineOptions): Promise<Engines> {
  const dir = await mkdtemp(join(tmpdir(), 'nap-engines-'));
  await mkdir(join(dir, 'logs'));
  const natsPort = await freePort();
  const etcdPort = await freePort();
  const etcdPeerPort = await freePort();
  const natsUser = 'test-observer';
  const natsPassword = randomBytes(12).toString('hex');
  const credentials = await loadEngineCredentials(join(dir, 'credentials'));
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const pids: number[] = [];
  const stop = async () => {
    await Promise.all(pids.map((pid) => stopPid(pid, 5000)));
    await rm(dir, { recursive: true, force: true });
  };
  const startEtcd = async () => {
    const etcd = spawnDetached('etcd', etcdArgs({ name: 'test', dataDir: join(dir, 'etcd'), clientPort: etcdPort, peerPort: etcdPeerPort }), {
      logFile: join(dir, 'logs', 'etcd.log'),
    });
    pids.push(etcd);
    if (!(await waitForPort('127.0.0.1', etcdPort, 15_000, () => isAlive(etcd)))) {
      throw new Error(`etcd did not start:\n${await tail(join(dir, 'logs', 'etcd.log'))}`);
    }
    return etcd;
  };
  const natsArgs = natsServerArgs({
    port: natsPort,
    storeDir: join(dir, 'jetstream'),
    users: [...natsUsersOf(credentials), { user: natsUser, password: natsPassword }],
    configFile: join(dir, 'nats.conf'),
    maxStoreMb: options.jetstreamMaxMb,
  });
  const spawnNats = () => {
    const nats = spawnDetached('nats-server', natsArgs, { logFile: join(dir, 'logs', 'nats.log') });
    pids.push(nats);
    return nats;
  };
  const natsUp = async (nats: number) => {
    if (!(await waitForPort('127.0.0.1', natsPort, 15_000, () => isAlive(nats)))) {
      throw new Error(`nats-server did not start:\n${await tail(join(dir, 'logs', 'nats.log'))}`);
    }
  };
  let etcdPid: number;
  let natsPid: number;
  try {
    natsPid = spawnNats();
    etcdPid = await startEtcd();
    await natsUp(natsPid);
    await ensureEtcdAuth([etcdUrl], credentials);
  } catch (err) {
    await stop();
    throw err;
  }
  // If this test process is killed before it can stop them, the engines follow it (by the pids in
  // a file, which a restarted etcd updates).
  const pidFile = join(dir, 'engines.pids');
  await writeFile(pidFile, pids.join(' '));
  pids.push(
    spawnDetached('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill $(cat ${pidFile}) 2>/dev/null`], {
      logFile: '/dev/null',
    }),
  );
  const startEtcdAgain = async () => {
    pids.splice(pids.indexOf(etcdPid), 1);
    etcdPid = await startEtcd();
    await writeFile(pidFile, pids.join(' '));
    await ensureEtcdAuth([etcdUrl], credentials);
  };
  const urls = { NAP_NATS_URL: natsUrl, NAP_ETCD_URLS: etcdUrl };
  const envOf = {} as Record<EngineClient, Record<string, string>>;
  for (const c of ENGINE_CLIENTS) envOf[c] = { ...urls, ...engineEnvOf(credentials, c) };
  return {
    dir,
    natsUrl,
    natsUser,
    natsPassword,
    etcdUrl,
    env: envOf.controller,
    envOf,
    credentials,
    restartEtcd: async () => {
      await stopPid(etcdPid, 5000);
      await startEtcdAgain();
    },
    killEtcd: async () => {
      if (!isAlive(etcdPid)) return;
      process.kill(etcdPid, 'SIGKILL');
      while (isAlive(etcdPid)) await new Promise((r) => setTimeout(r, 20));
    },
    startEtcd: () => startEtcdAgain(),
    killNats: async () => {
      if (!isAlive(natsPid)) return;
      process.kill(natsPid, 'SIGKILL');
      while (isAlive(natsPid)) await new Promise((r) => setTimeout(r, 20));
    },
    startNats: async () => {
      pids.splice(pids.indexOf(natsPid), 1);
      natsPid = spawnNats();
      await natsUp(natsPid);
      await writeFile(pidFile, pids.join(' '));
    },
    stop,
  };
}
