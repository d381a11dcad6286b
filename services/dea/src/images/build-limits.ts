import { DEFAULT_FDS } from '../runtime/container-limits.js';

/** What a Dockerfile build's RUN steps may use besides memory (which the build's memory caps). */
export interface BuildLimits {
  /** Names the build's cgroup: unique per build on the node. */
  name: string;
  cpuShares: number;
  pidsMax: number;
  fds?: number;
}

/** The defaults of NAP_DOCKERFILE_BUILD_CPU_SHARES and NAP_DOCKERFILE_BUILD_PIDS_MAX. */
export const DEFAULT_BUILD_LIMITS = { cpuShares: 256, pidsMax: 1024 } as const;

/** A build's limits when its caller names none: the cgroup is named after the build's own tag. */
export function defaultBuildLimits(tag: string): BuildLimits {
  return { name: `build-${tag.replace(/[^A-Za-z0-9_.-]/g, '-').slice(-80)}`, ...DEFAULT_BUILD_LIMITS };
}

export function openFilesOf(limits: BuildLimits): number {
  return limits.fds ?? DEFAULT_FDS;
}
