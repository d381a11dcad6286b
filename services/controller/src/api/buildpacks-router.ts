import type { BuildpackView } from '@nap/common';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  badRequest,
  type Blobstore,
  blobKeys,
  BUILDPACK_NAME,
  conflict,
  extractArchive,
  notFound,
  parseBuildpackChoice,
} from '@nap/common';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import { requireAdmin } from '../auth/bearer.js';
import type { BuildpackCatalog } from '../buildpacks/catalog.js';
import type { BuildpackRecord } from '../store/buildpacks-repository.js';
import { inspectUpload } from '../apps/package-check.js';
import { receiveBody } from './upload.js';

const REQUIRED = ['bin/detect', 'bin/compile', 'bin/release'];
const nameRule = z.string().regex(BUILDPACK_NAME, 'buildpack names are a lowercase letter, then up to 40 lowercase letters, digits and -');

export const NewGitBuildpack = z
  .object({
    name: nameRule,
    url: z.string().min(1).max(2048),
    position: z.number().int().min(0).max(1_000_000).optional(),
  })
  .strict();

export interface BuildpacksRouterDeps {
  catalog: BuildpackCatalog;
  blobs: Blobstore;
  uploadLimitMb: number;
}

function present(b: BuildpackRecord): BuildpackView {
  return { name: b.name, kind: b.kind, url: b.url, ref: b.ref, hash: b.hash, position: b.position, created_at: b.created_at, created_by: b.created_by };
}

/** Checks an uploaded buildpack archive: safe to extract, and with the three programs at its root. */
async function checkArchive(file: string, work: string): Promise<string> {
  const hash = await inspectUpload(file);
  const tree = join(work, 'tree');
  await extractArchive(file, tree);
  for (const f of REQUIRED) {
    const info = await lstat(join(tree, f)).catch(() => null);
    if (!info?.isFile()) throw badRequest('invalid_buildpack', `the archive has no ${f}: a buildpack needs bin/detect, bin/compile and bin/release at its root`);
    if ((info.mode & 0o111) === 0) throw badRequest('invalid_buildpack', `${f} in the archive is not executable (chmod +x ${f})`);
  }
  return hash;
}

/**
 * Admin buildpacks (the shape of apps' bits): POST /v1/buildpacks {name, url} for one from git,
 * PUT /v1/buildpacks/:name/bits with a gzip'd tar to create or replace one from an archive,
 * GET /v1/buildpacks (anyone: the built-in ones first, in detection order), DELETE /v1/buildpacks/:name.
 */
export function buildpacksRouter(deps: BuildpacksRouterDeps): Router {
  const { catalog, blobs } = deps;
  const repo = catalog.repository;
  const router = Router();

  const checkName = async (name: string) => {
    const parsed = nameRule.safeParse(name);
    if (!parsed.success) throw badRequest('invalid_name', `${JSON.stringify(name)}: ${parsed.error.issues[0].message}`);
    if ((await catalog.builtins()).includes(name)) throw conflict('buildpack_exists', `${name} is a built-in buildpack: choose another name`);
  };
  const nextPosition = async () => Math.max(0, ...(await repo.list()).map((b) => b.position)) + 1;

  router.get('/v1/buildpacks', async (_req, res) => {
    const builtins = (await catalog.builtins()).map((name): BuildpackView => ({ name, kind: 'builtin', url: null, ref: null, hash: null, position: null, created_at: null, created_by: null }));
    res.json([...builtins, ...(await repo.list()).map(present)]);
  });

  router.post('/v1/buildpacks', express.json({ limit: '16kb' }), async (req, res) => {
    requireAdmin(req, 'create buildpacks');
    const body = NewGitBuildpack.parse(req.body ?? {});
    await checkName(body.name);
    const choice = parseBuildpackChoice(body.url);
    if (choice.kind !== 'git') {
      throw badRequest('invalid_git_url', choice.kind === 'invalid' ? choice.reason : `${JSON.stringify(body.url)} is not a git URL: upload a folder with PUT /v1/buildpacks/${body.name}/bits`);
    }
    const now = new Date().toISOString();
    const record: BuildpackRecord = {
      name: body.name,
      kind: 'git',
      url: choice.url,
      ref: choice.ref ?? null,
      hash: null,
      blob_key: null,
      position: body.position ?? (await nextPosition()),
      created_at: now,
      created_by: req.caller!.name,
      updated_at: now,
    };
    if (!(await repo.create(record))) throw conflict('buildpack_exists', `buildpack ${body.name} exists already: delete it first`);
    res.status(201).json(present(record));
  });

  router.put('/v1/buildpacks/:name/bits', async (req, res) => {
    const name = String(req.params.name);
    let existing: BuildpackRecord | null;
    try {
      requireAdmin(req, 'upload buildpacks');
      await checkName(name);
      existing = await repo.get(name);
      if (existing?.kind === 'git') throw conflict('buildpack_exists', `buildpack ${name} comes from git (${existing.url}): delete it first`);
    } catch (err) {
      // Read and drop the upload, so the client sees the answer rather than a reset.
      req.resume();
      throw err;
    }
    const work = await mkdtemp(join(tmpdir(), 'nap-buildpack-'));
    try {
      const file = join(work, 'bits.tgz');
      await receiveBody(req, file, deps.uploadLimitMb * 1024 * 1024);
      const hash = await checkArchive(file, work);
      const key = blobKeys.buildpack(name, hash);
      if (existing?.hash !== hash) await blobs.putFile(key, file);
      const now = new Date().toISOString();
      const record: BuildpackRecord = {
        name,
        kind: 'archive',
        url: null,
        ref: null,
        hash,
        blob_key: key,
        position: existing?.position ?? (await nextPosition()),
        created_at: existing?.created_at ?? now,
        created_by: existing?.created_by ?? req.caller!.name,
        updated_at: now,
      };
      if (existing) await repo.put(record);
      else if (!(await repo.create(record))) throw conflict('buildpack_exists', `buildpack ${name} was just created by someone else`);
      // The replaced archive goes; a staging that already has it extracted keeps its copy.
      if (existing?.blob_key && existing.blob_key !== key) await blobs.delete(existing.blob_key);
      res.status(existing ? 200 : 201).json({ ...present(record), changed: existing?.hash !== hash });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  router.delete('/v1/buildpacks/:name', async (req, res) => {
    requireAdmin(req, 'delete buildpacks');
    const name = String(req.params.name);
    if ((await catalog.builtins()).includes(name)) throw badRequest('builtin_buildpack', `${name} is a built-in buildpack: it cannot be deleted`);
    const record = BUILDPACK_NAME.test(name) ? await repo.get(name) : null;
    if (!record) throw notFound('buildpack_not_found', `there is no admin buildpack ${name}`);
    await repo.delete(name);
    for (const key of await blobs.list(blobKeys.buildpacksOf(name))) await blobs.delete(key);
    res.json({ name, deleted: true });
  });

  return router;
}
