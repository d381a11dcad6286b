import { watch, type FSWatcher } from 'node:fs';
import { stat, type FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { Logger } from '@nap/common';

/** fs.watch misses events (network filesystems, rotation onto a new inode), so also poll this often. */
export const FOLLOW_POLL_MS = 250;
const CHUNK_BYTES = 64 * 1024;

export interface FollowedFile {
  handle: FileHandle;
  ino: number;
  dev: number;
}

/** What is being followed, and how to tell rotation and the end of writing. */
export interface FollowSource {
  /** Absolute path as requested (before symlinks): statted to notice rotation, and watched. */
  path: string;
  /** Opens whatever now lies at `path`, confinement checked again; null if there is nothing. */
  reopen(): Promise<FollowedFile | null>;
  /**
   * True once nothing more will be written: a staging task's `done` file, an instance directory
   * removed. Checked before each catch-up, so what was written before it is still sent.
   */
  writerFinished(): Promise<boolean>;
}

export interface Follow {
  /** Ends the response cleanly and releases everything (used when the server shuts down). */
  end(): void;
  /** Settles once the follow has stopped, for whatever reason. */
  readonly stopped: Promise<void>;
}

/**
 * `tail=true`: sends the file from byte `startAt` (its beginning unless asked otherwise; the caller
 * clamps it to the size it opened), then whatever is appended, until the writer has
 * finished or the client goes away. Like `tail -F`: a file that shrinks (truncation) or is replaced
 * at its path (rotation: another inode) is read again from its beginning, after the rest of the old
 * one has been sent. Reads are serialised; the response's back-pressure is respected.
 */
export function followFile(
  first: FollowedFile,
  out: ServerResponse,
  source: FollowSource,
  log: Logger,
  pollMs = FOLLOW_POLL_MS,
  startAt = 0,
): Follow {
  let current = first;
  // Where the next read starts. Past the end the first catch-up finds the file "truncated" and
  // starts over from 0, so the caller clamps startAt to the size it saw when opening.
  let position = Math.max(0, Math.floor(startAt));
  let watcher: FSWatcher | undefined;
  let stopping = false;
  let catchingUp = false;
  let wokenWhileCatchingUp = false;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));

  const timer = setInterval(wake, pollMs);
  out.on('close', stop);
  watchCurrent();
  wake();

  function watchCurrent(): void {
    watcher?.close();
    watcher = undefined;
    try {
      watcher = watch(source.path, { persistent: false }, wake);
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined; // the poll carries on alone
      });
    } catch {
      watcher = undefined;
    }
  }

  function wake(): void {
    if (stopping) return;
    if (catchingUp) {
      wokenWhileCatchingUp = true;
      return;
    }
    catchingUp = true;
    catchUp()
      .catch((err) => {
        log.warn({ err, path: source.path }, 'following a file failed');
        finish();
      })
      .finally(() => {
        catchingUp = false;
        if (stopping) release();
        else if (wokenWhileCatchingUp) {
          wokenWhileCatchingUp = false;
          wake();
        }
      });
  }

  async function catchUp(): Promise<void> {
    const finishedBefore = await source.writerFinished();
    do await sendToEnd();
    while (!stopping && (await restartedAfterRotation()));
    if (finishedBefore && !stopping) finish();
  }

  async function sendToEnd(): Promise<void> {
    while (!stopping) {
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES); // fresh each time: write() may hold on to it
      const { bytesRead } = await current.handle.read(chunk, 0, CHUNK_BYTES, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      if (!out.write(chunk.subarray(0, bytesRead))) await drained();
    }
  }

  /** True when reading must start again from the beginning of a (new or truncated) file. */
  async function restartedAfterRotation(): Promise<boolean> {
    let atPath;
    try {
      atPath = await stat(source.path);
    } catch {
      return false; // moved away, not yet recreated: the old file may still be written to
    }
    if (atPath.ino === current.ino && atPath.dev === current.dev) {
      if (atPath.size >= position) return false;
      position = 0; // truncated in place
      return true;
    }
    const next = await source.reopen();
    if (next === null || stopping) {
      await next?.handle.close();
      return false;
    }
    await current.handle.close().catch(() => undefined);
    current = next;
    position = 0;
    watchCurrent();
    return true;
  }

  function drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        resolve();
      };
      out.on('drain', done);
      out.on('close', done);
    });
  }

  function finish(): void {
    if (!out.writableEnded) out.end();
    stop();
  }

  function stop(): void {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    watcher?.close();
    watcher = undefined;
    out.off('close', stop);
    if (!catchingUp) release(); // otherwise the running catch-up releases when it returns
  }

  function release(): void {
    current.handle.close().catch(() => undefined).finally(markStopped);
  }

  return { end: finish, stopped };
}
