import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, sleep, spawnDetached, stopPid } from '@nap/common';
import type { LocalHost } from './cluster-state.js';
import { run } from './commands.js';

const docker = (host: LocalHost, ...args: string[]) => run('docker', ['-H', `unix://${host.dockerSocket}`, ...args]);

/**
 * A host's own Docker engine: its own data, exec root and socket, in the host's network namespace
 * (entered with nsenter: `ip netns exec` remounts /sys, and dockerd then finds no devices cgroup).
 * Started as deploy/setup starts the machine's (live restore, no bridge, no iptables: nap owns the
 * network), so a host is what a real machine is after setup.
 */
export async function startHostDockerd(host: LocalHost): Promise<number> {
  const pid = spawnDetached(
    'nsenter',
    [
      `--net=/var/run/netns/${host.netns}`,
      'dockerd',
      '--data-root', join(host.dir, 'docker'),
      '--exec-root', join(host.dir, 'exec'),
      '--pidfile', join(host.dir, 'dockerd.pid'),
      '-H', `unix://${host.dockerSocket}`,
      '--bridge=none', '--iptables=false', '--ip6tables=false', '--live-restore', '--log-level=warn',
    ],
    { logFile: join(host.dir, 'dockerd.log') },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (await docker(host, 'version', '--format', '{{.Server.Version}}').then(() => true, () => false)) return pid;
    if (!isAlive(pid) || Date.now() > deadline) {
      const log = await readFile(join(host.dir, 'dockerd.log'), 'utf8').catch(() => '');
      throw new Error(`host ${host.index}'s dockerd did not start; its log ends with:\n${log.slice(-1500)}`);
    }
    await sleep(250);
  }
}

/** Removes every container of the host's engine, stops it and its containerd, and lets go of its mounts. */
export async function stopHostDockerd(host: LocalHost): Promise<void> {
  if (host.dockerdPid && isAlive(host.dockerdPid)) {
    const ids = (await docker(host, 'ps', '-aq').catch(() => '')).split('\n').filter(Boolean);
    if (ids.length) await docker(host, 'rm', '-f', ...ids).catch(() => {});
  }
  const containerd = Number((await readFile(join(host.dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => '')).trim()) || 0;
  if (host.dockerdPid) await stopPid(host.dockerdPid, 20_000);
  if (containerd) await stopPid(containerd, 5000);
  // dockerd mounts its data root on itself and leaves an nsfs mount in its exec root.
  for (const mounted of ['docker', 'exec']) await run('umount', ['-R', join(host.dir, mounted)]).catch(() => {});
  await run('umount', [join(host.dir, 'exec', 'netns', 'default')]).catch(() => {});
}
