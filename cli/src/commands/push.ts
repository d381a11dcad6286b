import { lastLines } from './logs.js';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { type ApiClient, ApiError } from '../api-client.js';
import { type AppView, desiredInstances, type InstanceView, isAppName } from '@nap/common/without-engines';
import { CliError } from '../config.js';
import { followUrl } from '../follow.js';
import type { Output } from '../output.js';
import { appBody, type ManifestApp, readManifest } from '../push/manifest.js';
import { packApp } from '../push/pack.js';

export interface PushOptions {
  path?: string;
  instances?: number;
  memory?: string;
  /** disk_mb of each instance, e.g. 512M or 2G (Cloud Foundry's cf push -k). */
  disk?: string;
  command?: string;
  buildpack?: string;
  route?: string[];
  start: boolean;
  timeout: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A grace period that must not keep the CLI alive once everything else is done. */
const grace = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * nap push: create or update, upload, stage (following the log), wait for instances, print the URL.
 * Without a name, every application of a manifest is pushed, each from its own `path`.
 */
export async function push(api: ApiClient, out: Output, nameArg: string | undefined, opts: PushOptions): Promise<void> {
  const dir = resolve(opts.path ?? '.');
  if (!(await stat(dir).catch(() => null))?.isDirectory()) throw new CliError(`${dir} is not a directory`);
  const manifest = await readManifest(dir);
  if (!nameArg && manifest.length > 1) {
    for (const app of manifest) {
      if (!app.name) throw new CliError('every application of a manifest with several needs a name');
      await pushOne(api, out, app.name, resolve(dir, app.path ?? '.'), app, opts);
    }
    return;
  }
  const fromManifest = nameArg ? manifest.find((a) => a.name === nameArg) ?? (manifest.length === 1 ? manifest[0] : undefined) : manifest[0];
  await pushOne(api, out, nameArg ?? fromManifest?.name ?? basename(dir).toLowerCase(), fromManifest?.path ? resolve(dir, fromManifest.path) : dir, fromManifest, opts);
}

async function pushOne(api: ApiClient, out: Output, name: string, dir: string, fromManifest: ManifestApp | undefined, opts: PushOptions): Promise<void> {
  if (!isAppName(name)) throw new CliError(`${JSON.stringify(name)} is not a valid app name: use 1-63 lowercase letters, digits and -`);

  const body = appBody(fromManifest, { ...opts, routes: opts.route });
  // An existing app gets its new configuration only once the bits are in: a refused upload changes nothing.
  const existing = await api.call<AppView>('GET', `/v1/apps/${name}`).catch((err) => {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  });
  const before = existing ?? (await api.call<AppView>('PUT', `/v1/apps/${name}`, body));
  out.progress(`Pushing ${name} from ${dir}`);

  const work = await mkdtemp(join(tmpdir(), 'nap-push-'));
  let upload: { package_hash: string; changed: boolean };
  try {
    const bits = join(work, 'bits.tgz');
    const files = await packApp(dir, bits);
    const size = (await stat(bits)).size;
    let shown = -1;
    upload = await api.upload(`/v1/apps/${name}/bits`, bits, (sent, total) => {
      const pct = Math.floor((sent / total) * 100);
      if (pct >= shown + 25 || sent === total) {
        shown = pct;
        out.progress(`Uploading ${files} files, ${(size / 1024).toFixed(1)} KB: ${pct}%`);
      }
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  if (existing) await api.call<AppView>('PUT', `/v1/apps/${name}`, body);
  if (!upload.changed) out.progress('Bits unchanged since the last staging: not staging again');
  if (!opts.start) {
    out.result(`${name} uploaded (not started)`, { name, package_hash: upload.package_hash, changed: upload.changed });
    return;
  }

  const app = await startFollowingStaging(api, out, name, before.staging?.task_id ?? null, upload.changed);
  const { running, crashed } = await waitForInstances(api, out, app, opts.timeout);
  if (crashed) {
    // Cloud Foundry's "Start unsuccessful": every instance crashed, none runs; waiting on helps nothing.
    const tail = await lastLines(api, name, crashed.instances, 10).catch(() => []);
    throw new CliError(
      `Start unsuccessful: every instance of ${name} crashed (${crashed.reason}).` +
        (tail.length ? `\nThe last lines of its output:\n${tail.map((l) => `  ${l}`).join('\n')}` : '') +
        `\nnap logs ${name} --recent shows the rest; fix the app and push again.`,
    );
  }
  const urls = app.urls.join(', ');
  const started = await api.call<AppView>('GET', `/v1/apps/${name}`);
  for (const p of started.processes ?? []) {
    if (p.type !== 'web' && p.instances === 0 && p.command) out.progress(`Process type ${p.type} has 0 instances: nap scale ${name} ${p.type}=1 runs one`);
  }
  if (running < desiredInstances(started)) {
    const now = await api.call<AppView>('GET', `/v1/apps/${name}`);
    const why = now.placement_error ? `: ${now.placement_error}` : '';
    throw new CliError(`${name} has ${running} of ${desiredInstances(started)} instances running after ${opts.timeout} s${why}. See nap app ${name}, nap events ${name} and nap logs ${name}.`);
  }
  out.result(`${name} is running: ${urls}`, { ...app, running_instances: running });
}

async function startFollowingStaging(api: ApiClient, out: Output, name: string, previousTask: string | null, staging: boolean): Promise<AppView> {
  const stopFollowing = new AbortController();
  let following: Promise<void> = Promise.resolve();
  let finished = false;
  const start = api.call<AppView>('POST', `/v1/apps/${name}/start`).finally(() => {
    finished = true;
  });
  if (staging) {
    out.progress('Staging…');
    following = (async () => {
      while (!finished) {
        const app = await api.call<AppView>('GET', `/v1/apps/${name}`).catch(() => null);
        const url = app?.staging?.task_id !== previousTask ? app?.staging?.log_url : null;
        if (url) {
          await followUrl(api.fetch, url, (text) => out.progress(text.replace(/\n$/, '')), stopFollowing.signal);
          return;
        }
        await sleep(150);
      }
    })();
  }
  try {
    const app = await start;
    // Give the log a moment to deliver its last lines, which the directory server sends once staging is done.
    await Promise.race([following, grace(1500)]);
    return app;
  } catch (err) {
    await Promise.race([following, grace(1500)]);
    if (err instanceof ApiError && err.status === 422) throw new CliError(`${err.message}\nFix the app and push again; nap logs ${name} --staging shows the whole staging log.`);
    throw err;
  } finally {
    stopFollowing.abort();
  }
}

/**
 * Until every wanted instance runs, or every one has crashed with none running (then `crashed`
 * says why), or the time is up.
 */
async function waitForInstances(api: ApiClient, out: Output, app: AppView, timeoutS: number): Promise<{ running: number; crashed?: { reason: string; instances: InstanceView[] } }> {
  const deadline = Date.now() + timeoutS * 1000;
  let last = '';
  let running = 0;
  while (Date.now() < deadline) {
    const current = await api.call<AppView>('GET', `/v1/apps/${app.name}`);
    const instances = await api.call<InstanceView[]>('GET', `/v1/apps/${app.name}/instances`);
    const mine = instances.filter((i) => i.version === current.version);
    running = mine.filter((i) => i.state === 'RUNNING').length;
    const crashed = mine.filter((i) => i.state === 'CRASHED');
    const wanted = desiredInstances(current);
    const line = `Instances: ${running}/${wanted} running${crashed.length ? `, ${crashed.length} crashed (${crashed[0].exit_description})` : ''}`;
    if (line !== last) out.progress(line);
    last = line;
    if (running >= wanted) return { running };
    const slots = new Set(crashed.map((i) => `${i.process_type}/${i.index}`));
    if (running === 0 && wanted > 0 && slots.size >= wanted) {
      return { running, crashed: { reason: crashed.at(-1)?.exit_description ?? 'it exited', instances: crashed } };
    }
    await sleep(200);
  }
  return { running };
}
