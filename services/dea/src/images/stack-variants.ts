import { spawn } from 'node:child_process';
import { access, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { ENGINE_SECRET_VARIABLES, msg } from '@nap/common';
import type { DockerRuntime } from '../runtime/docker-runtime.js';

// The bus's rule: a variant a release may name is one a dea.start will carry.
const STACK_VARIANT = msg.STACK_VARIANT;

/** The last lines of a failed variant build that go into the error. */
const ERROR_TAIL_LINES = 8;

/**
 * Stack variants (`nap/stack:bookworm-jvm`): the stack plus what some buildpacks need (a JDK).
 * A node builds a variant the first time something needs it, with `deploy/stack-variant NAME`
 * (idempotent, run as root like the DEA), one build per variant at a time.
 */
export class StackVariants {
  private readonly building = new Map<string, Promise<void>>();

  constructor(
    private readonly runtime: DockerRuntime,
    private readonly stackImage: string,
    /** deploy/stack-variant, or a stand-in (settings: NAP_STACK_VARIANT_SCRIPT). */
    private readonly script: string,
  ) {}

  imageOf(variant: string | undefined): string {
    return variant ? `${this.stackImage}-${variant}` : this.stackImage;
  }

  /** The image to run in, built first when this node lacks it; `output` gets the build's lines. */
  async ensure(variant: string | undefined, output?: (line: string) => void): Promise<string> {
    const image = this.imageOf(variant);
    if (!variant) return image;
    if (!STACK_VARIANT.test(variant)) throw new Error(`invalid stack variant '${variant}': expected ${STACK_VARIANT.source}`);
    // The map is consulted before any await, so callers arriving together share one check and one build.
    let running = this.building.get(variant);
    if (!running) {
      running = this.buildIfMissing(variant, image, output).finally(() => this.building.delete(variant));
      this.building.set(variant, running);
    } else output?.(`       (stack variant ${variant} is being prepared on this node for another staging: waiting for it)`);
    await running;
    return image;
  }

  private async buildIfMissing(variant: string, image: string, output?: (line: string) => void): Promise<void> {
    if (await this.runtime.imageExists(image)) return;
    await this.build(variant, image, output);
  }

  private async build(variant: string, image: string, output?: (line: string) => void): Promise<void> {
    try {
      await access(this.script);
    } catch {
      throw new Error(`stack variant ${variant}: ${image} is not on this node and ${this.script} is missing to build it`);
    }
    output?.(`-----> Building stack variant ${variant} (${image}) on this node, once`);
    const tail: string[] = [];
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(this.script, [variant], {
        stdio: ['ignore', 'pipe', 'pipe'],
        // The DEA's engine passwords are not the script's: its output goes to the tenant's staging log.
        env: { ...withoutEngineSecrets(process.env), NAP_STACK_IMAGE: this.stackImage },
      });
      let pending = '';
      const onData = (chunk: Buffer) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          output?.(`       ${line}`);
          tail.push(line);
          if (tail.length > ERROR_TAIL_LINES) tail.shift();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0 || !(await this.runtime.imageExists(image))) {
      throw new Error(
        `stack variant ${variant} could not be built on this node (${join(this.script)} ${variant} exited ${code}${code === 0 ? ` without making ${image}` : ''}):\n${tail.join('\n')}`,
      );
    }
  }
}

function withoutEngineSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rest = { ...env };
  for (const k of ENGINE_SECRET_VARIABLES) delete rest[k];
  return rest;
}

/** Maven needs the JDK at staging: a top-level pom.xml stages in the jvm variant unless another buildpack is named. */
export async function stagingVariant(appDir: string, buildpack: string | undefined): Promise<string | undefined> {
  if (buildpack && buildpack !== 'java') return undefined;
  const pom = await lstat(join(appDir, 'pom.xml')).catch(() => null);
  return pom?.isFile() ? 'jvm' : undefined;
}

/** `stack_variant` of a buildpack's release YAML; anything else than a valid name is an error of the buildpack. */
export function releaseVariant(release: { stack_variant?: unknown }): string | undefined {
  const v = release.stack_variant;
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !STACK_VARIANT.test(v)) throw new Error(`the buildpack's release names an invalid stack_variant ${JSON.stringify(v)}: expected ${STACK_VARIANT.source}`);
  return v;
}
