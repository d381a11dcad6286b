import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { cp, type FileHandle, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { DockerRuntime } from '../runtime/docker-runtime.js';
import { makeBuildCgroup } from './build-cgroup.js';
import { type BuildLimits, defaultBuildLimits, openFilesOf } from './build-limits.js';
import { buildah, BuilderMissing, buildUser, type BuildUser, WORK_ROOT } from './buildah.js';
import { engineError, readProgress } from './engine-progress.js';

export class DockerfileBuildError extends Error {}

export interface DockerfileBuild {
  /** The app's files; the Dockerfile at its top. Already checked for paths that leave it. */
  contextDir: string;
  /** Tagged, so that the image (and, after `docker load`, its copies on other nodes) is never dangling and pruned. */
  tag: string;
  labels: Record<string, string>;
  memoryMb: number;
  timeoutMs: number;
  /** CPU, pids and open files of the build's RUN steps (defaults: build-limits.ts); always capped. */
  limits?: BuildLimits;
  /** One line of the staging log. */
  say: (line: string) => void;
}

const OUTPUT_TAIL_LINES = 12;

/** The images a Dockerfile starts from, as far as they can be known without running it. */
export function baseImages(dockerfile: string): string[] {
  const stages = new Set<string>();
  const bases: string[] = [];
  // Continuation lines join their instruction; comments never continue one.
  const lines = dockerfile.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  for (const line of lines) {
    const words = line.trim().split(/\s+/);
    if (words[0]?.toUpperCase() !== 'FROM') continue;
    const args = words.slice(1).filter((w) => !w.startsWith('--'));
    const image = args[0];
    if (!image) continue;
    // `FROM build` names an earlier stage, not an image; `scratch` is nothing; `$ARG` is known only to the builder.
    if (image !== 'scratch' && !stages.has(image.toLowerCase()) && !image.includes('$')) bases.push(image);
    if (args[1]?.toUpperCase() === 'AS' && args[2]) stages.add(args[2].toLowerCase());
  }
  return bases;
}

export function notOnThisNode(image: string, stackImage: string): string {
  return `FROM ${image} is not on this node and nap does not pull from registries: base the Dockerfile on ${stackImage} or an image loaded on every node`;
}

/**
 * What a RUN step keeps, inside its own user namespace only: enough for `apt-get install`, `useradd`
 * and `chown` on the image's own files. Each acts only on ids mapped into the namespace (nap-build's
 * range), never on the host's files or processes. Everything else (NET_RAW, MKNOD, SYS_CHROOT,
 * SETFCAP, AUDIT_WRITE, NET_BIND_SERVICE, SETPCAP) goes.
 */
export const RUN_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID'] as const;

/** buildah itself (committing, writing the archive) shares the build's memory cap with the RUN steps. */
const BUILDER_MEMORY_MB = 256;

const run = promisify(execFile);

/**
 * An app's Dockerfile built by buildah, rootless as nap-build (see buildah.ts): RUN steps are root
 * only in a user namespace of their own, with the few capabilities of RUN_CAPABILITIES, in a
 * network namespace on nap's network (a sandbox container's, nap's firewall around it), capped in
 * memory, CPU, processes and time by one cgroup. The image then goes to dockerd, tagged and
 * labelled, and buildah's copy is removed. Nothing is pulled: nodes reach no registry, and FROM
 * images come from dockerd.
 */
export async function buildDockerfile(runtime: DockerRuntime, build: DockerfileBuild, stackImage: string): Promise<BuiltImage> {
  const dockerfile = await readFile(join(build.contextDir, 'Dockerfile'), 'utf8');
  const bases = baseImages(dockerfile);
  for (const image of bases) {
    if (!(await runtime.imageExists(image))) throw new DockerfileBuildError(notOnThisNode(image, stackImage));
  }
  const user = await buildUser().catch((err: Error) => {
    throw new DockerfileBuildError(err instanceof BuilderMissing ? err.message : `cannot prepare the Dockerfile builder: ${err.message}`);
  });
  for (const image of bases) await importBase(runtime, user, image);

  const limits = build.limits ?? defaultBuildLimits(build.tag);
  const work = join(WORK_ROOT, `${limits.name}-${randomBytes(4).toString('hex')}`);
  const seconds = Math.round(build.timeoutMs / 1000);
  let sandbox: string | null = null;
  let netns: FileHandle | undefined;
  let builtId: string | null = null;
  const cgroup = await makeBuildCgroup(`${limits.name}-${randomBytes(3).toString('hex')}`, {
    pidsMax: limits.pidsMax,
    cpuShares: limits.cpuShares,
    memoryBytes: (build.memoryMb + BUILDER_MEMORY_MB) * 1024 * 1024,
  }).catch((err: Error) => {
    throw new DockerfileBuildError(`cannot cap the build on this node: ${err.message}`);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void cgroup.killAll();
  }, build.timeoutMs);
  try {
    // The builder reads its own copy: it never sees the DEA's staging dir, nor anything a symlink there points to.
    const context = join(work, 'context');
    await cp(build.contextDir, context, { recursive: true, verbatimSymlinks: true });
    await run('chown', ['-R', '--no-dereference', `${user.uid}:${user.gid}`, work]);

    if (runtime.network !== 'none') {
      const box = await runtime.startNetworkSandbox(`${limits.name}-net-${randomBytes(3).toString('hex')}`, stackImage, {
        'nap.kind': 'build-sandbox',
        'nap.build': build.tag,
      });
      sandbox = box.id;
      netns = box.netns;
    }

    const tail: string[] = [];
    let lastFrom: string | null = null;
    const fds = openFilesOf(limits);
    const labels = Object.entries(runtime.installationLabels(build.labels)).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    const iidFile = join(work, 'image-id');
    const bud = await buildah(
      [
        'bud',
        '--pull=never',
        '--isolation=oci',
        `--network=${netns ? 'host' : 'none'}`,
        ...(netns ? ['--dns=127.0.0.11'] : []),
        '--cap-drop=ALL',
        `--cap-add=${RUN_CAPABILITIES.join(',')}`,
        `--ulimit=nofile=${fds}:${fds}`,
        '--layers=false',
        '--force-rm',
        '--format=docker',
        `--iidfile=${iidFile}`,
        ...labels,
        '--file',
        join(context, 'Dockerfile'),
        context,
      ],
      {
        user,
        cgroupProcs: cgroup.procsFiles,
        netns,
        onLine: (line) => {
          const text = line.trimEnd();
          if (!text || /^(Getting image source signatures|Copying (blob|config) |Writing manifest|Storing signatures)/.test(text)) return;
          build.say(`       ${text}`);
          tail.push(text);
          if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
          const from = /^STEP \d+\/\d+: FROM\s+(\S+)/i.exec(text);
          if (from) lastFrom = from[1];
        },
      },
    );
    if (timedOut) throw new DockerfileBuildError(`the Dockerfile build took longer than ${seconds} s and was stopped`);
    if (bud.code !== 0) {
      const output = tail.join('\n');
      if (lastFrom && /image not known|pull policy is "never"|repository name must|not found/i.test(output) && /FROM/.test(output.split('\n').pop() ?? '')) {
        throw new DockerfileBuildError(notOnThisNode(lastFrom, stackImage));
      }
      const why = /^Error: (.*)$/m.exec(output)?.[1] ?? `buildah exited with ${bud.code}`;
      throw new DockerfileBuildError(
        `the Dockerfile build failed: ${why}\n${output}\n` + 'Fix the Dockerfile so that it builds on a machine without registry access, then push again.',
      );
    }
    builtId = (await readFile(iidFile, 'utf8')).trim();

    const archive = join(work, 'image.tar');
    const push = await buildah(['push', '--quiet', builtId, `docker-archive:${archive}:${build.tag}`], { user, cgroupProcs: cgroup.procsFiles });
    if (timedOut) throw new DockerfileBuildError(`the Dockerfile build took longer than ${seconds} s and was stopped`);
    if (push.code !== 0) throw new DockerfileBuildError(`the built image could not be written out: ${push.output.trim().split('\n').pop()}`);

    const existing = await runtime.allImageIds();
    let loadError: string | null = null;
    await readProgress(await runtime.loadImage(createReadStream(archive)), (m) => {
      loadError = engineError(m) ?? loadError;
    });
    if (loadError) throw new DockerfileBuildError(`the engine did not take the built image: ${loadError}`);
    const info = await runtime.inspectImage(build.tag);
    if (!info) throw new DockerfileBuildError(`the built image ${build.tag} is not in the engine after loading it`);
    return { id: info.Id, isNew: !existing.has(info.Id) };
  } catch (err) {
    if (timedOut && !(err instanceof DockerfileBuildError)) throw new DockerfileBuildError(`the Dockerfile build took longer than ${seconds} s and was stopped`);
    throw err;
  } finally {
    clearTimeout(timer);
    await cgroup.killAll();
    if (builtId) await buildah(['rmi', builtId], { user }).catch(() => {});
    await netns?.close().catch(() => {});
    if (sandbox) await runtime.remove(sandbox).catch(() => {});
    await rm(work, { recursive: true, force: true });
    await cgroup.remove();
  }
}

/** One import of a FROM image at a time per image: two builds of one app do not copy it twice. */
const importing = new Map<string, Promise<void>>();

/**
 * buildah's storage keeps a copy of each FROM image, the same image id as dockerd's (a `docker
 * save` read back keeps the image config, so the id): copied once, and again only when dockerd's
 * image under that name changed (a new stack version). buildah never talks to dockerd: its socket
 * is root on the host.
 */
async function importBase(runtime: DockerRuntime, user: BuildUser, image: string): Promise<void> {
  while (importing.has(image)) await importing.get(image)!.catch(() => {});
  const job = (async () => {
    const wanted = (await runtime.inspectImage(image))?.Id;
    if (!wanted) throw new DockerfileBuildError(notOnThisNode(image, image));
    const have = await buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', image], { user });
    const haveId = have.code === 0 ? have.output.trim() : '';
    if (haveId && `sha256:${haveId.replace(/^sha256:/, '')}` === wanted) return;
    const file = join(WORK_ROOT, `import-${randomBytes(4).toString('hex')}.tar`);
    try {
      await pipeline(await runtime.saveImage(image), createWriteStream(file, { mode: 0o600 }));
      await run('chown', [`${user.uid}:${user.gid}`, file]);
      const pulled = await buildah(['pull', '--quiet', `docker-archive:${file}`], { user });
      if (pulled.code !== 0) throw new DockerfileBuildError(`cannot hand ${image} to the Dockerfile builder: ${pulled.output.trim().split('\n').pop()}`);
      // The copy of the image this name had before is no one's now.
      if (haveId) await buildah(['rmi', haveId], { user }).catch(() => {});
    } finally {
      await rm(file, { force: true });
    }
  })();
  importing.set(image, job);
  try {
    await job;
  } finally {
    importing.delete(image);
  }
}

export interface BuiltImage {
  id: string;
  /** false when the engine had this very image before (an unchanged Dockerfile, all from the cache). */
  isNew: boolean;
}
