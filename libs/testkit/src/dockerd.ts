import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { isAlive, spawnDetached, stopPid } from '@nap/common';
import Docker from 'dockerode';
import { eventually } from './http.js';

/**
 * A Docker engine of a test's own (its own socket, data, exec root and containerd) for tests that
 * kill or restart it: the machine's engine, which every other test and any user of the machine
 * share, is never touched. Started as setup starts the real one (live-restore, no bridge, no
 * iptables: nap owns the network), stopped by pid, its directory removed.
 */
export interface TestDockerd {
  socket: string;
  docker: Docker;
  /** `kill -9` of dockerd, as a crash would; its containers run on (live-restore). */
  kill(): Promise<void>;
  /** Starts it again on the same data and socket, and waits for it to answer. */
  start(): Promise<void>;
  /** Copies an image (the stack, say) from another engine, the machine's unless given, into this one. */
  copyImage(name: string, from?: Docker): Promise<void>;
  /** Removes every container, stops dockerd and its containerd, removes the directory. */
  stop(): Promise<void>;
}

export async function startDockerd(): Promise<TestDockerd> {
  // Short: containerd's socket lives under the exec root, and a unix socket path has 108 bytes.
  const dir = await mkdtemp('/tmp/nap-dockerd-');
  const socket = join(dir, 'docker.sock');
  const docker = new Docker({ socketPath: socket });
  await writeFile(join(dir, 'daemon.json'), '{}');
  let pid = 0;
  const start = async () => {
    pid = spawnDetached(
      'dockerd',
      ['--config-file', join(dir, 'daemon.json'), '--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'), '-H', `unix://${socket}`, '--bridge=none', '--iptables=false', '--live-restore', '--log-level=warn'],
      { logFile: join(dir, 'dockerd.log') },
    );
    await eventually(
      async () => {
        if (!isAlive(pid)) throw new Error(`dockerd exited: ${(await readFile(join(dir, 'dockerd.log'), 'utf8').catch(() => '')).slice(-2000)}`);
        return (await docker.ping().then(() => true).catch(() => false)) || null;
      },
      60_000,
      'the test dockerd to answer',
    );
  };
  const containerdPid = async () => Number((await readFile(join(dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => '')).trim()) || 0;
  try {
    await start();
  } catch (err) {
    if (pid) await stopPid(pid, 5000);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    socket,
    docker,
    kill: async () => {
      if (!isAlive(pid)) return;
      process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await new Promise((r) => setTimeout(r, 20));
    },
    start,
    copyImage: async (name, from = new Docker({ socketPath: process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock' })) => {
      const tar = (await from.getImage(name).get()) as NodeJS.ReadableStream;
      const progress = (await docker.loadImage(tar, { quiet: true })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => docker.modem.followProgress(progress, (err) => (err ? reject(err) : resolve())));
    },
    stop: async () => {
      if (isAlive(pid)) {
        const all = await docker.listContainers({ all: true }).catch(() => []);
        await Promise.all(all.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
      }
      const containerd = await containerdPid();
      await stopPid(pid, 15_000);
      if (containerd) await stopPid(containerd, 5000);
      // dockerd mounts its data root on itself (to make it private) and leaves that mount behind.
      for (const mounted of ['root', 'exec']) await promisify(execFile)('umount', ['-R', join(dir, mounted)]).catch(() => {});
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}
