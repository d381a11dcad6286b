import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AppConfigError,
  appBody,
  IGNORE_FILES,
  isRootPath,
  MANIFEST_FILES,
  type ManifestApp,
  manifestAppFor,
  NapError,
  parseManifest,
  parseProfile,
  PROFILE_FILE,
  uploadFilter,
} from '@nap/common';
import type { Caller } from '../auth/bearer.js';
import { appUrls } from '../apps/app-record.js';
import { AppUpdate } from '../apps/app-update.js';
import type { AppLifecycle } from '../apps/lifecycle.js';
import { stagingLogUrl } from '../apps/present.js';
import { processSpecs } from '../apps/processes.js';
import type { ActualInstancesRepository } from '../store/actual-instances.js';
import { invalidRequest } from '../api/errors.js';
import type { AppsRepository } from '../store/apps-repository.js';
import type { PushedTree } from './pushed-tree.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A push that cannot be deployed: the message is for the pusher and quotes nothing from their files. */
export class PushRefused extends Error {}

export interface PushDeployDeps {
  /** Every change of the app, as the pusher: the same checks (routes, buildpacks, quotas) as `nap push` meets through the API. */
  lifecycle: AppLifecycle;
  /** Reads only. */
  apps: AppsRepository;
  actual: ActualInstancesRepository;
  directorySecret: string;
  uploadLimitMb: number;
  /** How long a push waits for the instances to run, as `nap push --timeout`. */
  instancesTimeoutS: number;
}

export interface Pusher {
  caller: Caller;
}

/** What the tree says about the app: its manifest entry (or profile), and the ignore rules. */
async function readAppConfig(tree: PushedTree, name: string): Promise<{ app: ManifestApp | undefined; ignoreText: string }> {
  let app: ManifestApp | undefined;
  let found = false;
  for (const file of MANIFEST_FILES) {
    const text = await tree.configFile(file);
    if (text === null) continue;
    app = manifestAppFor(parseManifest(file, text), name);
    found = true;
    // The tree is all a git push has: a path out of it would be the controller's own disk.
    if (!isRootPath(app?.path)) throw new AppConfigError(`${file}: path: must be . for a git push (the pushed commit is the app); remove it or use nap push`);
    break;
  }
  if (!found) {
    const profile = await tree.configFile(PROFILE_FILE);
    if (profile !== null) app = parseProfile(profile)[0];
  }
  let ignoreText = '';
  for (const file of IGNORE_FILES) {
    const text = await tree.configFile(file);
    if (text !== null) {
      ignoreText = text;
      break;
    }
  }
  return { app, ignoreText };
}

/**
 * `nap push` of a pushed commit, done by the controller in process as the pusher: the tree's files
 * are read from git's objects, packed with `git archive` and taken as the app's bits, the manifest
 * applied and the app started, each by the app lifecycle as the API would for `nap push`. `say`
 * gets the progress that `nap push` would print.
 */
export async function deployPushedCommit(deps: PushDeployDeps, name: string, tree: PushedTree, pusher: Pusher, say: (line: string) => void): Promise<void> {
  try {
    await deploy(deps, name, tree, pusher, say);
  } catch (err) {
    if (err instanceof AppConfigError) throw new PushRefused(err.message);
    if (err instanceof NapError) throw new PushRefused(err.message);
    throw err;
  }
}

async function deploy(deps: PushDeployDeps, name: string, tree: PushedTree, pusher: Pusher, say: (line: string) => void): Promise<void> {
  const { app: fromManifest, ignoreText } = await readAppConfig(tree, name);
  const keep = uploadFilter(ignoreText);
  const paths = await tree.paths();
  const kept = paths.filter((p) => keep(p, false));
  if (kept.length === 0) throw new PushRefused(`commit ${tree.commit.slice(0, 12)} has nothing to deploy (is everything in .napignore?)`);

  const work = await mkdtemp(join(tmpdir(), 'nap-git-push-'));
  let accepted: { package_hash: string; changed: boolean };
  try {
    const file = join(work, 'bits.tgz');
    await tree.pack(file, paths.filter((p) => !keep(p, false)), work, deps.uploadLimitMb * 1024 * 1024, 300_000);
    say(`Deploying ${name} from ${tree.commit.slice(0, 12)}: ${kept.length} files`);
    accepted = await deps.lifecycle.acceptBits(await deps.lifecycle.load(name, pusher.caller), file);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const body = appBody(fromManifest);
  if (Object.keys(body).length > 0) {
    const update = AppUpdate.safeParse(body);
    if (!update.success) throw invalidRequest(update.error);
    await deps.lifecycle.put(pusher.caller, name, update.data);
  }
  if (!accepted.changed) say('Bits unchanged since the last staging: not staging again');

  const before = await deps.lifecycle.load(name, pusher.caller);
  const started = await startFollowingStaging(deps, name, before.staging?.task_id ?? null, accepted.changed, pusher, say);
  const wanted = processSpecs(started).reduce((n, s) => n + s.instances, 0);
  const deadline = Date.now() + deps.instancesTimeoutS * 1000;
  let last = '';
  let running = 0;
  while (Date.now() < deadline) {
    const current = await deps.lifecycle.load(name, pusher.caller);
    const mine = (await deps.actual.ofApp(current.id)).filter((i) => i.version === current.version);
    running = mine.filter((i) => i.state === 'RUNNING').length;
    const line = `Instances: ${running}/${wanted} running`;
    if (line !== last) say(line);
    last = line;
    if (running >= wanted) {
      say(`${name} is running: ${appUrls(current).join(', ')}`);
      return;
    }
    await sleep(250);
  }
  throw new PushRefused(`${name} has ${running} of ${wanted} instances running after ${deps.instancesTimeoutS} s: see nap app ${name}, nap events ${name} and nap logs ${name}`);
}

/** The start, with the staging log copied to `say` while it runs (as `nap push` follows it). */
async function startFollowingStaging(deps: PushDeployDeps, name: string, previousTask: string | null, staging: boolean, pusher: Pusher, say: (line: string) => void) {
  const stop = new AbortController();
  let finished = false;
  const start = deps.lifecycle.start(pusher.caller, name).finally(() => {
    finished = true;
  });
  let following: Promise<void> = Promise.resolve();
  if (staging) {
    say('Staging…');
    following = (async () => {
      while (!finished && !stop.signal.aborted) {
        const app = await deps.apps.get(name).catch(() => null);
        const url = app && app.staging?.task_id !== previousTask ? stagingLogUrl(app, deps.directorySecret) : null;
        if (url) {
          await copyLog(url, say, stop.signal);
          return;
        }
        await sleep(150);
      }
    })();
  }
  const grace = () => new Promise((r) => setTimeout(r, 1500).unref());
  try {
    const app = await start;
    // The directory server sends the last lines once staging is done: give them a moment.
    await Promise.race([following, grace()]);
    return app;
  } catch (err) {
    await Promise.race([following, grace()]);
    if (err instanceof NapError && err.status === 422) throw new PushRefused(`${err.message}: fix the app and push again; nap logs ${name} --staging shows the whole staging log`);
    throw err;
  } finally {
    stop.abort();
  }
}

async function copyLog(url: string, say: (line: string) => void, stop: AbortSignal): Promise<void> {
  try {
    const res = await fetch(url, { signal: stop });
    if (!res.ok || !res.body) return;
    const decoder = new TextDecoder();
    let partial = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) say(l);
    }
    if (partial) say(partial);
  } catch {
    // A log that cannot be followed must not fail the push.
  }
}
