import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Logger, readSnapshot, SnapshotEntryHead } from '@nap/common';

/**
 * Which instances live on this node, and where, as the DEA itself says (its InstanceRegistry
 * snapshot, `${deaDir}/snapshot.json`, whose shape both read from libs/common/src/dea-snapshot.ts).
 * The DEA rewrites it atomically (tmp + rename) on every change and
 * keeps crashed instances in it until it cleans them up. The directory server never derives an
 * instance's directory from the URL: an ID the snapshot does not list is unknown, whatever lies on
 * disk.
 *
 * The parsed snapshot is cached and read again only when the file changes (another inode, mtime,
 * ctime or size), checked with one fstat per lookup, so a rewrite takes effect at the next request.
 * File times are coarse (a few ms), so a snapshot read within RACY_MS of its mtime is read again at
 * the next lookup anyway, as git does with a "racily clean" index: two same-sized rewrites within
 * one tick cannot hide the second.
 * A missing or unparsable snapshot means no instances; it is logged once (until it changes state),
 * never thrown.
 */
export interface SnapshotInstance {
  instanceId: string;
  state: SnapshotEntryHead['state'];
  /** The instance's directory as the DEA recorded it, resolved to an absolute path. */
  dir: string;
}

type Version = string;
type ProblemKind = 'missing' | 'unusable';

const RACY_MS = 100n;

export class InstanceSnapshot {
  private version: Version | undefined;
  /** The cached version was read so soon after it was written that a same-looking rewrite could follow. */
  private racy = false;
  private instances = new Map<string, SnapshotInstance>();
  private loading: Promise<void> | undefined;
  /** What was last wrong with the snapshot, to log each kind of trouble once, not per request. */
  private lastProblem: ProblemKind | undefined;

  constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {}

  /** The instance with this ID as the snapshot lists it now, or undefined. */
  async lookup(instanceId: string): Promise<SnapshotInstance | undefined> {
    await this.refresh();
    return this.instances.get(instanceId);
  }

  /** Every instance listed now (for tests and diagnostics). */
  async all(): Promise<SnapshotInstance[]> {
    await this.refresh();
    return [...this.instances.values()];
  }

  /** Concurrent lookups share one reload. */
  private refresh(): Promise<void> {
    this.loading ??= this.reload().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async reload(): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await open(this.file, 'r');
    } catch (err) {
      this.replace('missing', new Map(), 'missing', `cannot open ${this.file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      return;
    }
    try {
      // Read through the descriptor that was statted, so the version and the content always match
      // even if the DEA renames a new snapshot into place meanwhile.
      const readAt = BigInt(Date.now());
      const stats = await handle.stat({ bigint: true });
      const version = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
      if (version === this.version && !this.racy) return;
      this.racy = readAt - stats.mtimeNs / 1_000_000n < RACY_MS;
      let text: string;
      try {
        text = await handle.readFile('utf8');
      } catch (err) {
        this.replace(version, new Map(), 'unusable', `cannot read ${this.file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
        return;
      }
      const parsed = parseSnapshot(text);
      if (typeof parsed === 'string') this.replace(version, new Map(), 'unusable', `${this.file} is unusable: ${parsed}`);
      else this.replace(version, parsed);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  private replace(version: Version, instances: Map<string, SnapshotInstance>, kind?: ProblemKind, problem?: string): void {
    this.version = version;
    this.instances = instances;
    if (kind !== undefined && kind !== this.lastProblem) {
      this.log.warn({ file: this.file, problem }, 'no usable instance snapshot from the DEA: serving no instances until it is rewritten');
    } else if (kind === undefined && this.lastProblem !== undefined) {
      this.log.info({ file: this.file, instances: instances.size }, 'instance snapshot usable again');
    }
    this.lastProblem = kind;
  }
}

/** The instances of a snapshot's text, or why it cannot be used. Malformed entries are skipped. */
export function parseSnapshot(text: string): Map<string, SnapshotInstance> | string {
  const read = readSnapshot(text, SnapshotEntryHead);
  if (typeof read === 'string') return read;
  return new Map(read.entries.map((e) => [e.start.instance_id, { instanceId: e.start.instance_id, state: e.state, dir: resolve(e.dir) }]));
}
