import { chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive } from '@nap/common';
import type { DropletCache } from '../droplets/droplet-cache.js';
import type { ImageDroplets } from '../images/image-droplets.js';
import { instanceUser } from '../images/image-user.js';
import type { StackVariants } from '../images/stack-variants.js';
import { type RuntimeStore, runtimeMount, RuntimesFile } from '../runtimes/runtime-store.js';
import { type ContainerSpec, type DockerRuntime, VCAP } from '../runtime/docker-runtime.js';
import type { Instance } from './instance.js';
import { APP_HOME } from './instance-env.js';

/** A stop came while the droplet was being fetched: what the start made so far is dropped. */
export class Abandoned extends Error {}

export interface DropletSources {
  runtime: DockerRuntime;
  droplets: DropletCache;
  images: ImageDroplets;
  variants: StackVariants;
  runtimes: RuntimeStore;
}

/** How to run the instance's container, given its env. */
export type RunSpec = (env: Record<string, string>) => Pick<ContainerSpec, 'image' | 'cmd' | 'env' | 'workingDir' | 'user' | 'entrypoint' | 'binds'>;

/**
 * Gets what the instance runs from onto this node and says how to run it: a tgz droplet is
 * extracted into the instance's app/ and bind-mounted over the stack (or its variant); an image
 * droplet is loaded and run as it is, in its own WORKDIR and as its own USER (vcap when it names
 * none), with only the logs in the instance directory. Either way the command goes through
 * /bin/sh, so an image must have one. Throws Abandoned when the instance stopped meanwhile.
 */
export async function prepareRun(inst: Instance, from: DropletSources): Promise<RunSpec> {
  const { start } = inst;
  if (start.droplet_type === 'image') {
    const image = await from.images.ensure(start);
    const [passwd, group] = await from.runtime.readImageFiles(image.Id, ['/etc/passwd', '/etc/group']);
    if (inst.state !== 'STARTING') throw new Abandoned();
    await mkdir(join(inst.dir, 'logs'), { recursive: true });
    return (env) => {
      // The image's own PATH (a Dockerfile's ENV) stands unless the app's env sets one.
      if (start.env.PATH === undefined) delete env.PATH;
      // HOME=/home/vcap/app is where buildpack droplets live; an image has its own idea.
      if (start.env.HOME === undefined) delete env.HOME;
      return {
        image: image.Id,
        entrypoint: [],
        cmd: ['/bin/sh', '-c', start.command],
        env,
        workingDir: undefined,
        // Never the host's root: see images/image-user.ts.
        user: instanceUser(image.Config.User, { passwd, group }),
        binds: [],
      };
    };
  }
  const image = await from.variants.ensure(start.stack_variant);
  const droplet = await from.droplets.ensure(start.droplet_key, start.droplet_hash);
  if (inst.state !== 'STARTING') throw new Abandoned();
  await mkdir(join(inst.dir, 'logs'), { recursive: true });
  await extractArchive(droplet, inst.dir, VCAP);
  // The app owns its files; the logs stay the DEA's, so an app cannot rewrite its own history.
  await chown(join(inst.dir, 'app'), VCAP.uid, VCAP.gid);
  const runtimes = await runtimeBinds(inst.dir, from.runtimes);
  if (inst.state !== 'STARTING') throw new Abandoned();
  return (env) => ({
    image,
    // The command arrives as $0 so that no quoting of ours can change what the user wrote.
    // .profile.d/*.sh is where buildpacks put the environment their runtime needs (PATH, PYTHONPATH).
    cmd: ['/bin/sh', '-c', `cd ${APP_HOME} && for f in .profile.d/*.sh; do [ -f "$f" ] && . "./$f"; done; exec /bin/sh -c "$0"`, start.command],
    env,
    workingDir: APP_HOME,
    binds: [`${inst.dir}/app:${APP_HOME}`, ...runtimes],
  });
}

/**
 * The runtimes the droplet names (runtimes.json, which the DEA that staged it wrote beside app/),
 * on this node and mounted read-only where the buildpack's .profile.d looks for them.
 */
async function runtimeBinds(dir: string, store: RuntimeStore): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(dir, 'runtimes.json'), 'utf8');
  } catch {
    return [];
  }
  const refs = RuntimesFile.parse(JSON.parse(text));
  const binds: string[] = [];
  for (const ref of refs) binds.push(`${await store.ensure(ref)}:${runtimeMount(ref.name)}:ro`);
  return binds;
}
