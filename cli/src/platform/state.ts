import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive } from '@nap/common';

/** What the supervisor keeps about one program, for `nap status`. */
export interface ComponentStatus {
  pid: number | null;
  /** Times it exited and was started again since `nap up` first started it. */
  restarts: number;
  last_exit: { code: number | null; signal: string | null; at: string } | null;
  started_at: string | null;
}

/** What `nap up` keeps in NAP_HOME: secrets (mode 0600), pid files and logs. */
export class PlatformState {
  constructor(readonly home: string) {}

  get logsDir(): string {
    return join(this.home, 'logs');
  }

  /** The engines' passwords (loadEngineCredentials), one 0600 file each. */
  get credentialsDir(): string {
    return join(this.home, 'credentials');
  }

  logFile(name: string): string {
    return join(this.logsDir, `${name}.log`);
  }

  private pidFile(name: string): string {
    return join(this.home, 'run', `${name}.pid`);
  }

  async prepare(): Promise<void> {
    for (const d of ['run', 'logs', 'nats', 'etcd', 'dea']) await mkdir(join(this.home, d), { recursive: true, mode: 0o700 });
  }

  /** A secret made on first use and kept: running `nap up` again must not change the token users logged in with. */
  async secret(name: string): Promise<string> {
    const file = join(this.home, name);
    try {
      const value = (await readFile(file, 'utf8')).trim();
      if (value.length >= 16) return value;
    } catch {
      // made below
    }
    const value = randomBytes(32).toString('hex');
    await writeFile(file, `${value}\n`, { mode: 0o600 });
    return value;
  }

  async savePid(name: string, pid: number): Promise<void> {
    await writeFile(this.pidFile(name), `${pid}\n`);
  }

  async forgetPid(name: string): Promise<void> {
    await rm(this.pidFile(name), { force: true });
  }

  private statusFile(name: string): string {
    return join(this.home, 'run', `${name}.status.json`);
  }

  /** Written whole to a temporary file then renamed: `nap status` never reads half of it. */
  async saveStatus(name: string, status: ComponentStatus): Promise<void> {
    const file = this.statusFile(name);
    await writeFile(`${file}.tmp`, `${JSON.stringify(status)}\n`);
    await rename(`${file}.tmp`, file);
  }

  async readStatus(name: string): Promise<ComponentStatus | null> {
    try {
      const s = JSON.parse(await readFile(this.statusFile(name), 'utf8')) as Partial<ComponentStatus>;
      return { pid: s.pid ?? null, restarts: Number(s.restarts) || 0, last_exit: s.last_exit ?? null, started_at: s.started_at ?? null };
    } catch {
      return null;
    }
  }

  async forgetStatus(name: string): Promise<void> {
    await rm(this.statusFile(name), { force: true });
  }

  /** The pid `nap up` recorded, if that process still runs and is still the program it started (pids get reused). */
  async runningPid(name: string, marker: string): Promise<number | null> {
    let pid: number;
    try {
      pid = Number((await readFile(this.pidFile(name), 'utf8')).trim());
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes(marker) ? pid : null;
    } catch {
      return null;
    }
  }
}
