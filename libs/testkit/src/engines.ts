import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdArgs, freePort, isAlive, natsServerArgs, spawnDetached, stopPid, waitForPort } from '@nap/common';

/** Real nats-server and etcd for a test, on free loopback ports in a temp dir; stopped by pid. */
export interface Engines {
  dir: string;
  natsUrl: string;
  natsUser: string;
  natsPassword: string;
  etcdUrl: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * A free port can be taken by someone else between our check and the engine binding it; then the
 * engine dies at once, and a second try with new ports is all it takes.
 */
export async function startEngines(attempts = 3): Promise<Engines> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEnginesOnce();
    } catch (err) {
      if (attempt >= attempts) throw err;
    }
  }
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-10).join('\n');
}

async function startEnginesOnce(): Promise<Engines> {
  const dir = await mkdtemp(join(tmpdir(), 'nap-engines-'));
  await mkdir(join(dir, 'logs'));
  const natsPort = await freePort();
  const etcdPort = await freePort();
  const etcdPeerPort = await freePort();
  const natsUser = 'nap';
  const natsPassword = randomBytes(12).toString('hex');
  const pids: number[] = [];
  const stop = async () => {
    await Promise.all(pids.map((pid) => stopPid(pid, 5000)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const nats = spawnDetached('nats-server', natsServerArgs({ port: natsPort, storeDir: join(dir, 'jetstream'), user: natsUser, password: natsPassword, configFile: join(dir, 'nats.conf') }), {
      logFile: join(dir, 'logs', 'nats.log'),
    });
    pids.push(nats);
    const etcd = spawnDetached('etcd', etcdArgs({ name: 'test', dataDir: join(dir, 'etcd'), clientPort: etcdPort, peerPort: etcdPeerPort }), {
      logFile: join(dir, 'logs', 'etcd.log'),
    });
    pids.push(etcd);
    if (!(await waitForPort('127.0.0.1', natsPort, 15_000, () => isAlive(nats)))) {
      throw new Error(`nats-server did not start:\n${await tail(join(dir, 'logs', 'nats.log'))}`);
    }
    if (!(await waitForPort('127.0.0.1', etcdPort, 15_000, () => isAlive(etcd)))) {
      throw new Error(`etcd did not start:\n${await tail(join(dir, 'logs', 'etcd.log'))}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  // If this test process is killed before it can stop them, the engines follow it (by pid).
  pids.push(
    spawnDetached('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${pids.join(' ')} 2>/dev/null`], {
      logFile: '/dev/null',
    }),
  );
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  return {
    dir,
    natsUrl,
    natsUser,
    natsPassword,
    etcdUrl,
    env: { NAP_NATS_URL: natsUrl, NAP_NATS_USER: natsUser, NAP_NATS_PASSWORD: natsPassword, NAP_ETCD_URLS: etcdUrl },
    stop,
  };
}
