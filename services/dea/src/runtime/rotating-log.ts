import { closeSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';

/**
 * One of an instance's log files: every line starts with the time it arrived (so `nap logs` can
 * merge instances and streams by time), and at `maxBytes` the file is moved to `<name>.1` and a new
 * one begun, so a chatty app holds at most twice that on disk. Writes are synchronous: one DEA
 * writes each file, and order must be kept.
 */
export class RotatingLog {
  private fd: number;
  private size: number;
  private atLineStart = true;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
  ) {
    this.fd = openSync(path, 'a');
    this.size = fstatSync(this.fd).size;
  }

  write(chunk: Buffer, now = new Date()): void {
    const prefix = Buffer.from(`${now.toISOString()} `);
    const pieces: Buffer[] = [];
    let start = 0;
    while (start < chunk.length) {
      if (this.atLineStart) {
        pieces.push(prefix);
        this.atLineStart = false;
      }
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline + 1;
      pieces.push(chunk.subarray(start, end));
      if (newline !== -1) this.atLineStart = true;
      start = end;
    }
    const data = Buffer.concat(pieces);
    if (this.size > 0 && this.size + data.length > this.maxBytes) this.rotate();
    writeSync(this.fd, data);
    this.size += data.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, 'a');
    this.size = 0;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
