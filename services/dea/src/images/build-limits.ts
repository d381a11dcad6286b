import { DEFAULT_FDS } from '../runtime/container-limits.js';
import { makeBuildCgroup } from './build-cgroup.js';

/** What a Dockerfile build's RUN steps may use besides memory (which the build's memory/memswap cap). */
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

/**
 * The legacy builder's options for these limits (`cpushares`, `ulimits`, `cgroupparent`), and the
 * clean-up of the cgroup that carries `pids.max`. What the legacy builder cannot do is drop
 * capabilities or set no-new-privileges: its API has no such options, so RUN steps keep Docker's
 * default set (see docs/security.md, Builds).
 */
export async function buildLimitOptions(limits: BuildLimits): Promise<{ options: Record<string, unknown>; release: () => Promise<void> }> {
  const cgroup = await makeBuildCgroup(limits.name, limits.pidsMax);
  const fds = limits.fds ?? DEFAULT_FDS;
  return {
    options: {
      cpushares: limits.cpuShares,
      cgroupparent: cgroup.parent,
      // A JSON string: docker-modem passes arrays as repeated parameters, the engine wants JSON.
      ulimits: JSON.stringify([{ Name: 'nofile', Soft: fds, Hard: fds }]),
    },
    release: () => cgroup.remove(),
  };
}
