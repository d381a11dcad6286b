import type { Writable } from 'node:stream';
import type { Blobstore, msg } from '@nap/common';
import type { DockerRuntime } from '../runtime/docker-runtime.js';
import type { StackVariants } from '../images/stack-variants.js';
import type { RuntimeStore } from '../runtimes/runtime-store.js';
import type { VersionLists } from '../runtimes/version-lists.js';

export interface StagingDeps {
  deaId: string;
  stagingDir: string;
  cachesDir: string;
  buildpacksDir: string;
  lifecycleDir: string;
  stackImage: string;
  timeoutS: number;
  runtime: DockerRuntime;
  blobs: Blobstore;
  /** Where the finished droplet is kept on this node, so instance 0 starts without a download. */
  dropletPath: (hash: string) => string;
  /** Above it the build cache is not kept in the blobstore (NAP_BUILD_CACHE_MAX_MB; default 512). */
  buildCacheMaxMb?: number;
  /** Admin buildpacks extracted on this node (default: buildpacks/ beside cachesDir). */
  buildpackCacheDir?: string;
  /** Stack variant images (nap/stack:bookworm-jvm), built on this node when first needed. */
  variants: StackVariants;
  /** Node.js and npm as this node keeps them, verified (NAP_RUNTIMES_DIR). */
  runtimes: RuntimeStore;
  /** The registry's version lists beside them, kept fresh for the nodejs buildpack. */
  versionLists?: VersionLists;
  /** Dockerfile builds: their own (shorter) time limit, CPU weight and process cap. */
  dockerfileBuild?: { timeoutS: number; cpuShares: number; pidsMax: number };
}

export interface StagedDroplet extends msg.DropletRun {
  droplet_key: string;
  droplet_hash: string;
  detected_buildpack: string;
  start_command: string;
  process_types: Record<string, string>;
}

/** A failure the app's owner can act on: its message is the reason the push prints. */
export class StagingError extends Error {}

/** Where one staging works: the task's directory, the extracted app in it, and the app's build cache. */
export interface StagingPlace {
  /** staging/<task>: staging.log, and the droplet while it is made. */
  dir: string;
  /** The package, extracted, owned by vcap. */
  app: string;
  /** What a buildpack leaves for the DEA (release.yml, buildpack, error). */
  output: string;
  /** This app's build cache on this node. */
  cache: string;
  /** staging.log as it is written (the directory server serves it while it grows): a build's output goes here. */
  log: Writable;
}

/** One way of turning an extracted package into a droplet in the blobstore: a buildpack, or a Dockerfile. */
export interface DropletBuilder {
  build(req: msg.StagingStart, deps: StagingDeps, place: StagingPlace, say: (line: string) => void): Promise<StagedDroplet>;
}
