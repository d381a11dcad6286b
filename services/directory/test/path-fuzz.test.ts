/**
 * Property test of confinement (CONTRACT §7): random relative paths and raw query strings, thrown
 * at resolveInside / openInside and, signed for real, at the HTTP server. Whatever comes in, nothing
 * may resolve, open or be served outside the instance directory, and the marker written into every
 * file outside it may never appear in a response.
 *
 * Reproduce a failure with the seed it prints: NAP_FUZZ_SEED=<seed> node --test dist/test/path-fuzz.test.js
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger, loadSettings } from '@nap/common';
import { directoryListing, openInside, rawQuery, resolveInside, startDirectoryServer, type DirectoryServer } from '../src/index.js';
import { writeSnapshot } from './support/snapshot.js';

const SEED = process.env.NAP_FUZZ_SEED !== undefined ? Number(process.env.NAP_FUZZ_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const SECRET = 'fuzz-secret-0123456789abcdef';
const NOW = Date.now();
const ID = 'inst-7f3a';
/**
 * In every file outside the instance directory, and in the names of entries outside (so that a
 * listing of an outside directory shows it). Never part of a requested path: error messages echo
 * the path asked for.
 */
const MARKER = 'FUZZ-OUTSIDE-MARKER-5e1d';
const PASSWD = /root:[^\n]*:0:0:/;

const RESOLVE_CASES = 10_000;
const OPEN_CASES = 3_000;
const HTTP_CASES = 400;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let deaDir: string;
let instanceDir: string;
let realInstanceDir: string;
let server: DirectoryServer;
let base: string;

/** The property itself, independent of the code under test: real path inside, with a trailing separator. */
function isReallyInside(realTarget: string): boolean {
  return realTarget === realInstanceDir || realTarget.startsWith(realInstanceDir + sep);
}

class Fuzz {
  readonly random: () => number;
  constructor(seed: number) {
    this.random = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.random() < p;
  }

  segment(): string {
    const r = this.random();
    if (r < 0.5) return this.pick(SEGMENTS);
    if (r < 0.6) return this.pick(['..', '.', '']);
    if (r < 0.65) return 'a'.repeat(1 + this.int(this.chance(0.5) ? 300 : 5000)); // also past NAME_MAX and PATH_MAX
    if (r < 0.75) return this.pick(UNICODE);
    if (r < 0.85) return `${ID}${this.pick(['x', 'X', '-', '.bak', '/..', '%2f..'])}`;
    // Random bytes of the nastier kinds.
    let s = '';
    for (let i = 1 + this.int(6); i > 0; i--) s += this.pick(CHARS);
    return s;
  }

  /** A decoded path, as the server would receive it after decodeURIComponent. */
  path(): string {
    if (this.chance(0.3)) return this.bent(this.pick(INSIDE));
    let p = this.chance(0.15) ? this.pick(absolutePrefixes()) : '';
    const n = 1 + this.int(7);
    for (let i = 0; i < n; i++) {
      if (i > 0) p += this.pick(SEPARATORS);
      p += this.segment();
    }
    if (this.chance(0.1)) p += this.pick(['/', '//', '/.', '/..', '\0', '\\']);
    if (this.chance(0.05)) p = p.slice(0, this.int(p.length + 1)) + '\0' + p.slice(this.int(p.length + 1));
    return p;
  }

  /** A path that exists inside, bent the ways that may or may not keep it inside. */
  bent(path: string): string {
    let p = path;
    for (let i = this.int(3); i > 0; i--) {
      const r = this.random();
      if (r < 0.15) p = `./${p}`;
      else if (r < 0.3) p = p.replace('/', this.pick(['//', '/./', '///']));
      else if (r < 0.45) p = `app/../${p}`;
      else if (r < 0.55) p = `${p}/`;
      else if (r < 0.65) p = `${this.pick(['..', `../${ID}`, `../${ID}x`, 'rel-up', 'rel-up/..', '/', 'logs/chain/..'])}/${p}`;
      else if (r < 0.75) p = `${p}/${this.pick(['..', '../..', '../../..', '.', 'escape', 'sibling-dir', 'x'])}`;
      else if (r < 0.85) p = p.replace(/\//g, '\\');
      else p = `${p}${this.pick(['\0', '%00', '\u202e', ' '])}`;
    }
    return p;
  }

  /**
   * A raw (still encoded) `path` value as it could stand in a URL: each character literal when the
   * URL keeps it as is, else percent-encoded, sometimes needlessly, in either case, or twice; with
   * encoded tricks (%2e, %2f, %00, %252e) and broken escapes thrown in.
   */
  rawPath(): string {
    let raw = '';
    for (const ch of this.path()) {
      const r = this.random();
      if (r < 0.05) raw += this.pick(RAW_TRICKS);
      // Only characters a URL keeps as they are stand literally, so that the signature still matches.
      if (/^[A-Za-z0-9\-_.!~*()]$/.test(ch) && r < 0.6) raw += ch;
      else if (r < 0.9 || ch.codePointAt(0)! > 0x7f) raw += encode(ch);
      else if (r < 0.95) raw += encode(ch).toLowerCase();
      else raw += encodeURIComponent(encode(ch)); // double encoding: decodes once to a literal %xx
    }
    if (this.chance(0.03)) raw += this.pick(['%', '%2', '%zz', '%E9', '%C0%AE']); // broken or overlong UTF-8
    return raw;
  }

  /** A whole raw query string around a raw path: repeated keys, junk, empty pairs, other orders. */
  rawQueryString(rawPathValue: string): string {
    const pairs = [`path=${rawPathValue}`, `timestamp=${Math.floor(NOW / 1000)}`, `hmac=${'0'.repeat(64)}`];
    for (let i = this.int(4); i > 0; i--) {
      pairs.splice(this.int(pairs.length + 1), 0, this.pick(['path=..%2F..%2Fetc%2Fpasswd', 'path=%2Fetc%2Fpasswd', 'path[]=x', 'path', '', '=', 'tail=false', 'x=%00', `path=${this.rawPath()}`]));
    }
    return pairs.join('&');
  }
}

/** encodeURIComponent, also for a lone surrogate (encoded as the invalid UTF-8 it would be). */
function encode(ch: string): string {
  try {
    return encodeURIComponent(ch);
  } catch {
    return '%ED%A0%80';
  }
}

const SEGMENTS = [
  'app', 'logs', 'stdout.log', 'server.js', 'lib', 'escape', 'escape-dir', 'passwd', 'sibling', 'sibling-dir', 'rel-up',
  'loop', 'inner', 'inner-dir', 'chain', 'root-link', 'proc-link', 'secret.txt', 'outside', 'instances', 'etc', ID,
  'self', 'fd', 'proc', 'cwd', 'root', '%2e%2e', '%2e', '%2f', '%00', '%252e', '%252e%252e', '..%2f', '%2e%2e%5c',
  '..\\', '\\..', '\\', '..;', '...', '....', '.. ', ' ..', '..%00', '~', '$HOME', '*', '?', '#', ':', 'C:', 'NUL',
  'con', '.git', '.%2e', '%2e.', 'named-outside.txt',
];
/** Paths that do exist inside, as starting points that mutations then bend. */
const INSIDE = ['', '.', 'app', 'logs', 'app/server.js', 'app/lib/util.js', 'logs/stdout.log', 'app/lib', 'app/inner', 'app/inner-dir/stdout.log', 'app/%2e%2e', 'app/é', 'app/inner-dir'];
const UNICODE = ['é', 'e\u0301', '\u202e', '\ufeff', '．．', '\uff0f', '\u2215', '\u2024\u2024', '‥', '𝒂𝒑𝒑', '\u0000', '\ud800', '日本語'];
const CHARS = ['.', '/', '\\', '%', '\0', '\n', '\r', '\t', ' ', '+', ';', '&', '=', '?', '#', ':', '~', 'a', 'Z', '0', 'é', '\u2028'];
const SEPARATORS = ['/', '/', '/', '//', '\\', '/./', '/../', '/%2f/', '\\/'];
const RAW_TRICKS = ['%2e', '%2E', '%2e%2e', '%2f', '%2F', '%2e%2e%2f', '%00', '%252e', '%252f', '%5c', '%c0%af', '%ef%bc%8f'];
const absolutePrefixes = () => ['/', '//', '///', `${deaDir}/`, `${instanceDir}/`, `${instanceDir}x/`, `${instanceDir}/../`, '/etc/', '/proc/self/', '\\', 'C:\\', 'file:/', '~/'];

/** Whether a response body or listing gives away anything of what lies outside. */
function leaks(text: string): boolean {
  return text.includes(MARKER) || PASSWD.test(text) || text.includes('SIBLING-SECRET');
}

/** Runs `cases` through `check` a batch at a time; the first failure reports the seed and the input. */
async function runCases<T>(what: string, inputs: T[], check: (input: T) => Promise<void>, batch = 32): Promise<void> {
  for (let i = 0; i < inputs.length; i += batch) {
    // allSettled: a failure waits for the rest of its batch, so nothing is still running once it is reported.
    const results = await Promise.allSettled(inputs.slice(i, i + batch).map((input) => check(input)));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed === -1) continue;
    const err = (results[failed] as PromiseRejectedResult).reason as Error;
    const shown = JSON.stringify(inputs[i + failed]);
    const message =
      `${what} case ${i + failed} failed with NAP_FUZZ_SEED=${SEED} ` +
      `(rerun: NAP_FUZZ_SEED=${SEED} node --test services/directory/dist/test/path-fuzz.test.js); ` +
      `input ${shown.length > 600 ? `${shown.slice(0, 600)}…` : shown}: ${err.message}`;
    console.error(message);
    throw Object.assign(new Error(message), { cause: err });
  }
}

before(async () => {
  deaDir = await realpath(await mkdtemp(join(tmpdir(), 'nap-directory-fuzz-')));
  instanceDir = join(deaDir, 'instances', ID);
  await mkdir(join(instanceDir, 'app', 'lib'), { recursive: true });
  await mkdir(join(instanceDir, 'logs'), { recursive: true });
  await writeFile(join(instanceDir, 'app', 'server.js'), 'inside: server\n');
  await writeFile(join(instanceDir, 'app', 'lib', 'util.js'), 'inside: util\n');
  await writeFile(join(instanceDir, 'logs', 'stdout.log'), 'inside: stdout\n');
  await writeFile(join(instanceDir, 'app', '%2e%2e'), 'inside: literally named %2e%2e\n');
  await writeFile(join(instanceDir, 'app', 'é'), 'inside: e acute\n');
  // Outside: the DEA directory, another instance whose name extends this one's, a sibling of instances/.
  await mkdir(join(deaDir, 'outside', `${MARKER}-dir`), { recursive: true });
  await writeFile(join(deaDir, 'outside', 'secret.txt'), `${MARKER} outside\n`);
  await writeFile(join(deaDir, 'outside', 'named-outside.txt'), `${MARKER} named\n`);
  await writeFile(join(deaDir, 'named-outside.txt'), `${MARKER} in the DEA dir\n`);
  await writeFile(join(deaDir, `${MARKER}-listed`), '');
  for (const sibling of [`${ID}x`, `${ID}X`, `${ID}-`, `${ID}.bak`]) {
    await mkdir(join(deaDir, 'instances', sibling), { recursive: true });
    await writeFile(join(deaDir, 'instances', sibling, 'secret.txt'), `${MARKER} SIBLING-SECRET\n`);
    await writeFile(join(deaDir, 'instances', sibling, 'named-outside.txt'), `${MARKER}\n`);
    await writeFile(join(deaDir, 'instances', sibling, `${MARKER}-listed`), '');
  }
  await writeFile(join(deaDir, 'instances', 'secret.txt'), `${MARKER} in instances/\n`);
  await writeFile(join(deaDir, 'instances', `${MARKER}-listed`), '');
  // Symlinks the app could have planted inside its own directory.
  const links: Array<[string, string]> = [
    [join(deaDir, 'outside', 'secret.txt'), 'app/escape'],
    [join(deaDir, 'outside'), 'app/escape-dir'],
    ['/etc/passwd', 'app/passwd'],
    [`../../${ID}x/secret.txt`, 'app/sibling'],
    [`../../${ID}x`, 'app/sibling-dir'],
    ['..', 'rel-up'],
    ['loop', 'app/loop'],
    ['server.js', 'app/inner'],
    ['../logs', 'app/inner-dir'],
    ['../app/chain-2', 'logs/chain'],
    [`../../${ID}x`, 'app/chain-2'],
    ['/', 'root-link'],
    ['/proc/self/root', 'proc-link'],
    [`${instanceDir}x`, `${ID}x`],
  ];
  for (const [target, at] of links) await symlink(target, join(instanceDir, at));
  realInstanceDir = await realpath(instanceDir);
  await writeSnapshot(deaDir, [{ id: ID }]);

  const settings = { ...loadSettings({}), deaDir, deaHost: '127.0.0.1', directoryPort: 0, directorySecret: SECRET };
  server = await startDirectoryServer(settings, createLogger('directory-fuzz', 'silent'), { now: () => NOW });
  base = `http://127.0.0.1:${server.port}`;
});

after(async () => {
  await server?.close();
  if (deaDir) await rm(deaDir, { recursive: true, force: true });
});

describe(`path confinement under fuzzing (NAP_FUZZ_SEED=${SEED})`, () => {
  it('the fixture really has content outside that a naive join would serve', async () => {
    assert.match(await readFile(join(instanceDir, 'app', 'escape'), 'utf8'), new RegExp(MARKER));
    assert.match(await readFile(join(instanceDir, `${ID}x`, 'secret.txt'), 'utf8'), new RegExp(MARKER));
    if (existsSync('/etc/passwd')) assert.match(await readFile(join(instanceDir, 'app', 'passwd'), 'utf8'), PASSWD);
  });

  it(`resolveInside never resolves outside: ${RESOLVE_CASES} random paths and raw query strings`, async (t) => {
    const fuzz = new Fuzz(SEED);
    const inputs: string[] = [];
    let undecodable = 0;
    for (let i = 0; i < RESOLVE_CASES; i++) {
      if (i % 2 === 0) {
        inputs.push(fuzz.path());
        continue;
      }
      // As the server does: the first `path=` of the raw query, decoded once.
      const raw = rawQuery(`/instance_paths/${ID}?${fuzz.rawQueryString(fuzz.rawPath())}`).get('path') ?? '';
      try {
        inputs.push(decodeURIComponent(raw));
      } catch {
        undecodable++; // the server answers 400 bad_path before resolving anything
        inputs.push(raw);
      }
    }
    const outcomes = { inside: 0, outside: 0, missing: 0 };
    await runCases('resolveInside', inputs, async (relative) => {
      const result = await resolveInside(instanceDir, relative);
      outcomes[result.outcome]++;
      if (result.outcome !== 'inside') return;
      assert.equal(result.realRoot, realInstanceDir);
      assert.ok(isReallyInside(result.realPath), `resolved outside to ${result.realPath}`);
      assert.ok(isReallyInside(await realpath(result.realPath)), 'its real path is outside');
      assert.ok(isReallyInside(result.requestedPath), `requested path ${result.requestedPath} is outside`);
    });
    t.diagnostic(`outcomes ${JSON.stringify(outcomes)}, ${undecodable} undecodable`);
    // Not vacuous: plenty of each outcome.
    assert.ok(outcomes.inside > 200 && outcomes.outside > 1000 && outcomes.missing > 1000, `${JSON.stringify(outcomes)}, ${undecodable} undecodable (seed ${SEED})`);
  });

  it(`openInside never opens outside nor reads outside content: ${OPEN_CASES} random paths`, async (t) => {
    const fuzz = new Fuzz(SEED ^ 0x9e3779b9);
    const inputs = Array.from({ length: OPEN_CASES }, (_, i) => {
      if (i % 2 === 0) return fuzz.path();
      try {
        return decodeURIComponent(fuzz.rawPath());
      } catch {
        return fuzz.path();
      }
    });
    let opened = 0;
    await runCases('openInside', inputs, async (relative) => {
      const entry = await openInside(instanceDir, relative);
      if (entry.outcome !== 'opened') return;
      opened++;
      try {
        const fdPath = await readlink(`/proc/self/fd/${entry.handle.fd}`);
        assert.ok(isReallyInside(fdPath), `opened ${fdPath}`);
        assert.ok(isReallyInside(entry.realPath), `real path ${entry.realPath}`);
        const text = entry.kind === 'file' ? await entry.handle.readFile('utf8') : await directoryListing(`/proc/self/fd/${entry.handle.fd}`);
        assert.ok(!leaks(text), `read outside content: ${JSON.stringify(text.slice(0, 200))}`);
      } finally {
        await entry.handle.close();
      }
    });
    t.diagnostic(`${opened} of ${OPEN_CASES} opened`);
    assert.ok(opened > 300, `only ${opened} of ${OPEN_CASES} opened (seed ${SEED})`);
  });

  it(`the HTTP server serves nothing outside: ${HTTP_CASES} validly signed random URLs`, async (t) => {
    const fuzz = new Fuzz(SEED ^ 0x85ebca6b);
    const timestamp = String(Math.floor(NOW / 1000));
    const inputs = Array.from({ length: HTTP_CASES }, () => {
      const id = fuzz.chance(0.85) ? ID : fuzz.pick([`${ID}x`, `${ID}X`, `${ID}-`, 'outside', 'instances', 'secret.txt']);
      const rawPath = fuzz.rawPath();
      const resourceBase = `/instance_paths/${id}`;
      const hmac = createHmac('sha256', SECRET).update(`${resourceBase}?path=${rawPath}&timestamp=${timestamp}`).digest('hex');
      let query = `path=${rawPath}&timestamp=${timestamp}&hmac=${hmac}`;
      // Junk after the signed values: a second path= must not be what is served.
      for (let j = fuzz.int(3); j > 0; j--) query += `&${fuzz.pick(['path=..%2F..%2Foutside%2Fsecret.txt', 'path=%2Fetc%2Fpasswd', 'tail=false', 'x=%00', `path=${fuzz.rawPath()}`])}`;
      return { id, url: `${base}${resourceBase}?${query}`, range: fuzz.chance(0.1) ? 'bytes=0-' : undefined };
    });
    const statuses = new Map<number, number>();
    await runCases(
      'HTTP',
      inputs,
      async ({ id, url, range }) => {
        const res = await fetch(url, range ? { headers: { Range: range } } : {});
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.ok([200, 206, 400, 403, 404].includes(res.status), `status ${res.status}: ${text.slice(0, 200)}`);
        assert.ok(!leaks(text), `served outside content: ${JSON.stringify(text.slice(0, 200))}`);
        // Not in the snapshot: never served (400 when the path could not even be decoded).
        if (id !== ID) assert.ok(res.status === 404 || res.status === 400, `an instance not in the snapshot got ${res.status}`);
      },
      16,
    );
    t.diagnostic(`statuses ${JSON.stringify([...statuses].sort())}`);
    const served = (statuses.get(200) ?? 0) + (statuses.get(206) ?? 0);
    assert.ok(served > 10 && (statuses.get(403) ?? 0) > 20, `statuses ${JSON.stringify([...statuses])} (seed ${SEED})`);
  });
});
