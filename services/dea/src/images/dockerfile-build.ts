import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { create as createTar } from 'tar';
import type { DockerRuntime } from '../runtime/docker-runtime.js';
import { type BuildLimits, buildLimitOptions, defaultBuildLimits } from './build-limits.js';
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
 * `docker build` of an app's Dockerfile with the legacy builder, which is what dockerd 20.10
 * offers over its API without BuildKit. The engine never pulls: nodes reach no registry, and an
 * image that came from one would differ between nodes anyway.
 */
export async function buildDockerfile(runtime: DockerRuntime, build: DockerfileBuild, stackImage: string): Promise<BuiltImage> {
  const dockerfile = await readFile(join(build.contextDir, 'Dockerfile'), 'utf8');
  for (const image of baseImages(dockerfile)) {
    if (!(await runtime.imageExists(image))) throw new DockerfileBuildError(notOnThisNode(image, stackImage));
  }

  const context = createTar({ cwd: build.contextDir, portable: true }, await readdir(build.contextDir));
  // What was here before is never ours to remove, however the build output names it: the FROM
  // image, layers reused from the cache, an identical image built before.
  const existing = await runtime.allImageIds();
  const caps = await buildLimitOptions(build.limits ?? defaultBuildLimits(build.tag)).catch((err: Error) => {
    throw new DockerfileBuildError(`cannot cap the build on this node: ${err.message}`);
  });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), build.timeoutMs);
  const tail: string[] = [];
  // Images this build made (not ones it reused from the cache): on failure they are half-made.
  const made: string[] = [];
  let reused = false;
  let imageId: string | null = null;
  let error: string | null = null;
  let lastFrom: string | null = null;
  let inFrom = false;
  const memory = build.memoryMb * 1024 * 1024;
  try {
    const progress = await runtime.buildImage(
      Readable.from(context),
      {
        t: build.tag,
        labels: runtime.installationLabels(build.labels),
        // RUN steps get nap's network (registries reachable, the platform not), never the host's.
        networkmode: runtime.network,
        pull: false,
        rm: true,
        forcerm: true,
        memory,
        memswap: memory,
        ...caps.options,
      },
      abort.signal,
    );
    await readProgress(progress, (m) => {
      const failed = engineError(m);
      if (failed) error = failed;
      if (m.aux?.ID) imageId = m.aux.ID;
      for (const line of (m.stream ?? '').split('\n')) {
        const text = line.trimEnd();
        if (!text) continue;
        build.say(`       ${text}`);
        tail.push(text);
        if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
        const step = /^Step \d+\/\d+ : FROM\s+(\S+)/i.exec(text);
        if (/^Step \d+\/\d+ : /.test(text)) {
          lastFrom = step ? step[1] : null;
          inFrom = !!step;
        }
        if (text === ' ---> Using cache') reused = true;
        const id = /^ ---> ([0-9a-f]{12,64})$/.exec(text);
        if (id) {
          if (!reused && !inFrom) made.push(id[1]);
          reused = false;
        }
        const built = /^Successfully built ([0-9a-f]{12,64})$/.exec(text);
        if (built && !imageId) imageId = built[1];
      }
    });
    if (abort.signal.aborted) throw new DockerfileBuildError(`docker build took longer than ${Math.round(build.timeoutMs / 1000)} s and was stopped`);
    if (error || !imageId) {
      if (lastFrom && error && /registry|pull access|dial tcp|no such host|manifest|not found/i.test(error)) {
        throw new DockerfileBuildError(notOnThisNode(lastFrom, stackImage));
      }
      throw new DockerfileBuildError(
        `docker build failed: ${error ?? 'the engine reported no image'}\n${tail.join('\n')}\n` +
          'Fix the Dockerfile so that `docker build` passes on a machine without registry access, then push again.',
      );
    }
    const info = await runtime.inspectImage(imageId);
    if (!info) throw new DockerfileBuildError(`docker build reported image ${imageId}, which the engine does not have`);
    return { id: info.Id, isNew: !existing.has(info.Id) };
  } catch (err) {
    await removeHalfMade(runtime, build.tag, made, existing);
    if (abort.signal.aborted && !(err instanceof DockerfileBuildError)) {
      throw new DockerfileBuildError(`docker build took longer than ${Math.round(build.timeoutMs / 1000)} s and was stopped`);
    }
    throw err;
  } finally {
    clearTimeout(timer);
    await caps.release();
  }
}

export interface BuiltImage {
  id: string;
  /** false when the engine had this very image before (an unchanged Dockerfile, all from the cache). */
  isNew: boolean;
}

/**
 * Newest first: each removal leaves its parent without children, so the parent can go too. The
 * tag is this build's own; removing it only untags an image that has other tags.
 */
async function removeHalfMade(runtime: DockerRuntime, tag: string, made: string[], existing: Set<string>): Promise<void> {
  await runtime.removeImage(tag);
  const old = [...existing].map((id) => id.replace(/^sha256:/, ''));
  for (const id of [...made].reverse()) if (!old.some((o) => o.startsWith(id))) await runtime.removeImage(id);
}
