import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, NapError } from '@nap/common';
import type { Request, Response } from 'express';
import { receiveBody } from '../api/upload.js';
import type { AppRecord } from '../apps/app-record.js';
import {
  flushPacket,
  onReportBand,
  progressPackets,
  type PushRequest,
  readPackets,
  readPushRequest,
  type RefUpdate,
  refusalReport,
  wantsReport,
  wantsSideband,
  ZERO_ID,
} from './pkt-line.js';
import { deployPushedCommit, type Pusher, PushRefused } from './push-deploy.js';
import type { PushDeployDeps } from './push-deploy.js';
import { PushedTree } from './pushed-tree.js';
import { git, gitEnv, type GitRepositories } from './repositories.js';

export interface ReceivePackDeps {
  repositories: GitRepositories;
  deploy: PushDeployDeps;
  /** The pusher's app, created as theirs when it does not exist yet (PUT /v1/apps/:name, as `nap push` does). */
  appFor: (name: string, pusher: Pusher) => Promise<AppRecord>;
  uploadLimitMb: number;
  log: Logger;
}

/** The answer to a receive-pack request: progress as it comes, the report once the push is settled. */
class PushAnswer {
  private started = false;

  constructor(
    private readonly res: Response,
    private readonly request: PushRequest,
  ) {}

  private begin(): void {
    if (this.started) return;
    this.started = true;
    this.res.status(200).setHeader('Content-Type', 'application/x-git-receive-pack-result');
    this.res.setHeader('Cache-Control', 'no-cache');
  }

  /** A line the pusher sees as `remote: …` (lost when the client asked for no side-band). */
  say(line: string): void {
    if (!wantsSideband(this.request)) return;
    this.begin();
    this.res.write(progressPackets(`${line}\n`));
  }

  raw(bytes: Buffer): void {
    this.begin();
    this.res.write(bytes);
  }

  /** Every update refused for `reason`, git showing `! [remote rejected] ref (reason)`. */
  refuse(reason: string, detail?: string): void {
    for (const l of (detail ?? reason).split('\n')) this.say(`nap: ${l}`);
    this.begin();
    if (wantsReport(this.request)) this.res.write(onReportBand(refusalReport(this.request.updates, reason), wantsSideband(this.request)));
    this.res.end(flushPacket());
  }
}

const framed = (data: Buffer) => Buffer.concat([Buffer.from((data.length + 4).toString(16).padStart(4, '0')), data]);

/** What receive-pack answered: its progress (side-band 2, shown at once) and the rest (its report, or a fatal error on band 3), held until the push is settled. */
function splitAnswer(out: Buffer, sideband: boolean): { progress: Buffer[]; rest: Buffer[]; fatal: boolean } {
  const progress: Buffer[] = [];
  const rest: Buffer[] = [];
  let fatal = false;
  for (const p of readPackets(out).packets) {
    if (p.flush) continue;
    if (sideband && p.data[0] === 2) progress.push(framed(p.data));
    else rest.push(framed(p.data));
    if (sideband && p.data[0] === 3) fatal = true;
  }
  return { progress, rest, fatal };
}

function runReceivePack(dir: string, input: string): Promise<{ code: number | null; out: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-c', 'core.hooksPath=/dev/null', 'receive-pack', '--stateless-rpc', dir], { env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out: Buffer.concat(out), stderr }));
    createReadStream(input).pipe(child.stdin).on('error', () => {});
  });
}

/** The first `bytes` of a file (the ref updates come first in a push): the pack after them may be big. */
async function readStart(file: string, bytes: number): Promise<Buffer> {
  const handle = await open(file, 'r').catch(() => null);
  if (!handle) return Buffer.alloc(0);
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function refOf(dir: string, ref: string): Promise<string> {
  return (await git(['-C', dir, 'rev-parse', '--verify', '-q', `${ref}^{commit}`]).catch(() => '')).trim() || ZERO_ID;
}

/** Puts refs back to what they were before a push whose deploy was refused: the repository keeps no refused commit. */
async function restoreRefs(dir: string, updates: RefUpdate[]): Promise<void> {
  for (const u of updates) {
    if (u.old === ZERO_ID) await git(['-C', dir, 'update-ref', '-d', u.ref]).catch(() => {});
    else await git(['-C', dir, 'update-ref', u.ref, u.old]).catch(() => {});
  }
}

/**
 * POST /git/<app>.git/git-receive-pack: the pushed objects go into the app's repository by
 * `git receive-pack` (no hooks), and each branch it updated is deployed in process as the pusher
 * before the report goes back, so a refused deploy is a refused push and the ref is put back.
 * The body is limited like an upload, and refused whole before git sees any of it.
 */
export async function handleReceivePack(deps: ReceivePackDeps, req: Request, res: Response, name: string, pusher: Pusher): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'nap-receive-'));
  try {
    const body = join(scratch, 'body');
    let tooBig: NapError | null = null;
    try {
      await receiveBody(req, body, deps.uploadLimitMb * 1024 * 1024);
    } catch (err) {
      if (!(err instanceof NapError) || err.status !== 413) throw err;
      tooBig = new NapError(413, 'too_large', err.message.replace('the upload', 'the push').replace(': leave big files out with .napignore', ': push fewer or smaller files (git history counts too)'));
    }
    const request = readPushRequest(await readStart(body, 1024 * 1024));
    const answer = new PushAnswer(res, request);
    if (tooBig) {
      // Without the ref updates (a declared size over the limit), only the status can say it.
      if (request.updates.length === 0) throw tooBig;
      return answer.refuse('push too large', tooBig.message);
    }
    if (request.updates.length === 0) {
      // git's probe of a big push: an empty request, answered as receive-pack would.
      res.status(200).setHeader('Content-Type', 'application/x-git-receive-pack-result');
      res.end(flushPacket());
      return;
    }

    let app: AppRecord;
    try {
      app = await deps.appFor(name, pusher);
    } catch (err) {
      if (err instanceof NapError) return answer.refuse(`app ${name} refused`, err.message);
      throw err;
    }
    await deps.repositories.exclusive(app.id, async () => {
      const dir = join(deps.repositories.root, await deps.repositories.ensure(app.id));
      const received = await runReceivePack(dir, body);
      const sideband = wantsSideband(request);
      const split = splitAnswer(received.out, sideband);
      for (const p of split.progress) answer.raw(p);
      if (received.code !== 0 || split.fatal) {
        deps.log.warn({ app: name, code: received.code, stderr: received.stderr.trim() }, 'git receive-pack failed');
        answer.raw(Buffer.concat(split.rest));
        res.end(flushPacket());
        return;
      }
      const deployed: RefUpdate[] = [];
      for (const u of request.updates) {
        if (u.new === ZERO_ID || !u.ref.startsWith('refs/heads/')) continue;
        if ((await refOf(dir, u.ref)) === u.new) deployed.push(u);
      }
      try {
        for (const u of deployed) await deployPushedCommit(deps.deploy, name, new PushedTree(dir, u.new), pusher, (line) => answer.say(line));
      } catch (err) {
        await restoreRefs(dir, deployed);
        if (err instanceof PushRefused) return answer.refuse('deploy refused', err.message);
        deps.log.error({ app: name, err }, 'git push: deploy failed');
        return answer.refuse('deploy failed', 'the controller could not deploy this push: try again, and tell an admin if it keeps failing');
      }
      answer.raw(Buffer.concat(split.rest));
      res.end(flushPacket());
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
