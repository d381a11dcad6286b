import { spawn } from 'node:child_process';
import { access, chmod, chown, type FileHandle, mkdir, readFile, rm } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/**
 * buildah runs as this unprivileged user, rootless: its RUN steps are root only inside a user
 * namespace that maps uid 0 to nap-build and the rest to nap-build's subordinate ids
 * (/etc/subuid), so a Dockerfile's root is nobody on the host. deploy/setup makes the user.
 */
export const BUILD_USER = 'nap-build';
/** The user's home: its storage (only base images between builds) and each build's work dir. */
const HOME = `/var/lib/${BUILD_USER}`;
/**
 * Overlay, native in the user namespace (Linux 5.13 and later): a build's container shares the
 * base image's files. The vfs driver copied the whole stack (370 MB) for every build.
 */
export const STORAGE_ROOT = join(HOME, 'overlay-storage');
const STORAGE_DRIVER = 'overlay';
/** Where an older nap kept vfs storage: removed, it would only hold a stale copy of the stack. */
const OLD_STORAGE_ROOT = join(HOME, 'storage');
export const WORK_ROOT = join(HOME, 'work');
const RUN_ROOT = `/run/${BUILD_USER}`;
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class BuilderMissing extends Error {}

export interface BuildUser {
  uid: number;
  gid: number;
}

/** nap-build, its subordinate ids and buildah: all there, or an error that says to run deploy/setup. */
export async function buildUser(): Promise<BuildUser> {
  if (!(await onPath('buildah'))) throw new BuilderMissing('buildah is not installed on this node: run deploy/setup (it installs buildah for Dockerfile builds)');
  const entry = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${BUILD_USER}:`));
  if (!entry) throw new BuilderMissing(`the ${BUILD_USER} user that runs Dockerfile builds is missing: run deploy/setup`);
  const [, , uid, gid] = entry.split(':');
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const has = (await readFile(file, 'utf8').catch(() => '')).split('\n').some((l) => l.startsWith(`${BUILD_USER}:`));
    if (!has) throw new BuilderMissing(`${file} has no range for ${BUILD_USER}, so a build cannot get a user namespace: run deploy/setup`);
  }
  const user = { uid: Number(uid), gid: Number(gid) };
  await rm(OLD_STORAGE_ROOT, { recursive: true, force: true });
  // The DEA is root; these are the builder's own, and nobody else's to read.
  for (const dir of [HOME, STORAGE_ROOT, WORK_ROOT, RUN_ROOT]) {
    await mkdir(dir, { recursive: true });
    await chown(dir, user.uid, user.gid);
    await chmod(dir, 0o700);
  }
  return user;
}

async function onPath(cmd: string): Promise<boolean> {
  for (const dir of PATH.split(delimiter)) if (await access(join(dir, cmd)).then(() => true, () => false)) return true;
  return false;
}

export interface BuildahRun {
  user: BuildUser;
  /** Written with the builder's pid before it execs: the builder and all it starts are in these cgroups. */
  cgroupProcs?: string[];
  /** A network namespace to run in (a handle on a sandbox container's); unset: the builder's own has no network use. */
  netns?: FileHandle;
  /** Each line of output, as it comes. */
  onLine?: (line: string) => void;
}

/**
 * One buildah command as nap-build. The DEA's environment (with NATS and etcd credentials) is not
 * passed on: the builder gets PATH, HOME and its runtime dir, nothing else, and no secret in argv.
 * Root does the two things the builder must not do itself: join the cgroups and the network
 * namespace; then setpriv drops to nap-build before buildah starts.
 */
export function buildah(args: string[], run: BuildahRun): Promise<{ code: number; output: string }> {
  const argv = [
    // The namespace goes to the child as its fd 3: joined by handle, never by a pid that could be reused.
    ...(run.netns ? ['nsenter', '--net=/proc/self/fd/3', '--'] : []),
    'setpriv',
    `--reuid=${run.user.uid}`,
    `--regid=${run.user.gid}`,
    '--clear-groups',
    '--',
    'buildah',
    '--root',
    STORAGE_ROOT,
    '--runroot',
    join(RUN_ROOT, 'overlay-storage'),
    '--storage-driver',
    STORAGE_DRIVER,
    ...args,
  ];
  const script = 'for f in $NAP_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done; unset NAP_CGROUP_PROCS; exec "$@"';
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script, 'sh', ...argv], {
      cwd: WORK_ROOT,
      env: { PATH, HOME, XDG_RUNTIME_DIR: RUN_ROOT, NAP_CGROUP_PROCS: (run.cgroupProcs ?? []).join(' ') },
      stdio: ['ignore', 'pipe', 'pipe', ...(run.netns ? [run.netns.fd] : [])],
    });
    let output = '';
    let pending = '';
    const take = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-64 * 1024);
      pending += text;
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) run.onLine?.(line);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (pending) run.onLine?.(pending);
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}
