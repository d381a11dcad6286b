/**
 * The CPU and file limits every container gets, as Cloud Foundry sets them. Memory is the one
 * thing a user buys; CPU follows it, so a bigger app gets a bigger share and no app can starve
 * the others (or the platform, whose processes sit outside Docker's cgroup) by spinning.
 */

/** Below this an app gets the share of this much memory (Cloud Foundry's MIN_CPU_PROXY). */
export const CPU_SHARES_MIN_MEMORY_MB = 128;
/** From this much memory up an app gets a whole share (Cloud Foundry's MAX_CPU_PROXY). */
export const CPU_SHARES_MAX_MEMORY_MB = 8192;
/** A whole share: the kernel's default weight of a cgroup (and Garden's maxCPUShares). */
export const CPU_SHARES_MAX = 1024;
/** Open files when the start message names none: the DEA's default in Cloud Foundry. */
export const DEFAULT_FDS = 16_384;
/** Processes and threads in one container: a fork bomb stops here, not at the host's pid_max. */
export const PIDS_LIMIT = 4096;

/**
 * CpuShares for a container with this memory limit:
 *   1024 × clamp(memory_mb, 128, 8192) / 8192, rounded down
 * which is Cloud Foundry's (cloud_controller_ng TaskCpuWeightCalculator gives a weight of
 * 100 × clamp(memory, 128, 8192) / 8192, and the executor hands Garden weight × 1024 / 100).
 * 128 MB or less → 16, 256 MB → 32, 1 GB → 128, 8 GB or more → 1024. Shares only matter when
 * the CPU is contended: an idle machine lets any app use it all.
 */
export function cpuSharesFor(memoryMb: number): number {
  const proxy = Math.min(CPU_SHARES_MAX_MEMORY_MB, Math.max(CPU_SHARES_MIN_MEMORY_MB, memoryMb));
  return Math.floor((CPU_SHARES_MAX * proxy) / CPU_SHARES_MAX_MEMORY_MB);
}

/** The part of a container's HostConfig that this module decides: CPU by memory, open files. */
export function hostLimits(memoryMb: number, fds: number = DEFAULT_FDS): { CpuShares: number; Ulimits: { Name: string; Soft: number; Hard: number }[] } {
  return {
    CpuShares: cpuSharesFor(memoryMb),
    // Soft and hard alike, so the app cannot raise its own limit (it has no CAP_SYS_RESOURCE either).
    Ulimits: [{ Name: 'nofile', Soft: fds, Hard: fds }],
  };
}
