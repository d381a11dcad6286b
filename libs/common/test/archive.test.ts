import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import * as tar from 'tar';
import { extractArchive, inspectArchive, packArchive, UnsafeArchiveError } from '../src/archive.js';

let root: string; // everything this file makes
let build: string; // sources of the archives
let archives: string;
let cwd: string; // the process's working directory while testing: must stay empty

/** Every path under `dir` with its type and size, not following links: to prove nothing was written. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${p} ${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${st.isFile() ? st.size : 0}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Runs the system's GNU tar in `dir`. */
function gnuTar(dir: string, args: string[]): void {
  execFileSync('tar', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A fresh directory under build/. */
function source(name: string): string {
  const dir = join(build, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function assertRejected(file: string, entry: string | RegExp): Promise<UnsafeArchiveError> {
  const before = snapshot(root);
  let caught: unknown;
  try {
    await inspectArchive(file);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof UnsafeArchiveError, `expected an UnsafeArchiveError, got ${String(caught)}`);
  if (typeof entry === 'string') assert.ok(caught.message.includes(JSON.stringify(entry)), `message names ${entry}: ${caught.message}`);
  else assert.match(caught.message, entry);
  assert.deepEqual(snapshot(root), before, 'inspectArchive wrote nothing');
  return caught;
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'nap-archive-'));
  build = join(root, 'build');
  archives = join(root, 'archives');
  cwd = join(root, 'cwd');
  for (const d of [build, archives, cwd]) mkdirSync(d);
  process.chdir(cwd);
});

after(() => {
  process.chdir(tmpdir());
  rmSync(root, { recursive: true, force: true });
});

describe('inspectArchive refuses hostile archives', () => {
  test('an entry with ../', async () => {
    const dir = source('dotdot');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'x'), 'escaped\n');
    const file = join(archives, 'dotdot.tgz');
    gnuTar(join(dir, 'sub'), ['-czPf', file, '../x']);
    rmSync(join(dir, 'x'));
    await assertRejected(file, '../x');
    assert.equal(existsSync(join(dir, 'x')), false);
    assert.equal(existsSync(join(root, 'x')), false);
  });

  test('an entry with .. in the middle', async () => {
    const dir = source('middle');
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'top.txt'), 'x');
    const file = join(archives, 'middle.tgz');
    gnuTar(dir, ['-czPf', file, 'a/b/../../top.txt']);
    await assertRejected(file, 'a/b/../../top.txt');
  });

  test('an absolute path', async () => {
    const abs = join(root, 'abs.txt');
    writeFileSync(abs, 'absolute\n');
    const file = join(archives, 'abs.tgz');
    gnuTar(build, ['-czPf', file, abs]);
    rmSync(abs);
    await assertRejected(file, abs);
    assert.equal(existsSync(abs), false);
  });

  test('a symlink to an absolute path', async () => {
    const dir = source('symabs');
    symlinkSync('/etc', join(dir, 'link'));
    const file = join(archives, 'symabs.tgz');
    gnuTar(dir, ['-czf', file, 'link']);
    const e = await assertRejected(file, 'link');
    assert.match(e.message, /\/etc/);
  });

  test('a symlink climbing out with ..', async () => {
    const dir = source('symrel');
    mkdirSync(join(dir, 'sub'));
    symlinkSync('../../outside', join(dir, 'rel'));
    symlinkSync('../..', join(dir, 'sub', 'up'));
    gnuTar(dir, ['-czf', join(archives, 'symrel.tgz'), 'rel']);
    gnuTar(dir, ['-czf', join(archives, 'symsub.tgz'), 'sub']);
    await assertRejected(join(archives, 'symrel.tgz'), 'rel');
    await assertRejected(join(archives, 'symsub.tgz'), 'sub/up');
  });

  test('a chain of symlinks that each look inside but together lead out', async () => {
    const dir = source('chain');
    symlinkSync('.', join(dir, 'self'));
    symlinkSync('self/..', join(dir, 'escape')); // lexically ".", really the parent of the root
    mkdirSync(join(dir, 'd'));
    symlinkSync('..', join(dir, 'd', 'up'));
    symlinkSync('up/..', join(dir, 'd', 'escape2'));
    gnuTar(dir, ['-czf', join(archives, 'chain.tgz'), 'self', 'escape']);
    gnuTar(dir, ['-czf', join(archives, 'chain-reversed.tgz'), 'escape', 'self']); // the link comes before what it goes through
    gnuTar(dir, ['-czf', join(archives, 'chain-nested.tgz'), 'd']);
    // The kernel's resolution (node's JS realpathSync would apply the .. lexically and say "inside").
    assert.equal(realpathSync.native(join(dir, 'escape')), realpathSync.native(build), 'on disk it really leads out');
    assert.equal(realpathSync.native(join(dir, 'd', 'escape2')), realpathSync.native(build));
    await assertRejected(join(archives, 'chain.tgz'), 'escape');
    await assertRejected(join(archives, 'chain-reversed.tgz'), 'escape');
    await assertRejected(join(archives, 'chain-nested.tgz'), 'd/escape2');
  });

  test('a symlink loop', async () => {
    const dir = source('loop');
    symlinkSync('l2', join(dir, 'l1'));
    symlinkSync('l1', join(dir, 'l2'));
    gnuTar(dir, ['-czf', join(archives, 'loop.tgz'), 'l1', 'l2']);
    await assertRejected(join(archives, 'loop.tgz'), 'l1');
  });

  test('a hard link to a path outside', async () => {
    const dir = source('hard');
    writeFileSync(join(dir, 'a.txt'), 'target\n');
    linkSync(join(dir, 'a.txt'), join(dir, 'hl.txt'));
    // Keep the file's own name, rewrite only the hard link's target.
    gnuTar(dir, ['-czPf', join(archives, 'hard-rel.tgz'), '--transform=s|^a\\.txt$|../a.txt|Rh', 'a.txt', 'hl.txt']);
    gnuTar(dir, ['-czPf', join(archives, 'hard-abs.tgz'), '--transform=s|^a\\.txt$|/etc/passwd|Rh', 'a.txt', 'hl.txt']);
    await assertRejected(join(archives, 'hard-rel.tgz'), 'hl.txt');
    await assertRejected(join(archives, 'hard-abs.tgz'), 'hl.txt');
  });

  test('a FIFO', async () => {
    const dir = source('fifo');
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    gnuTar(dir, ['-czf', join(archives, 'fifo.tgz'), 'fifo']);
    const e = await assertRejected(join(archives, 'fifo.tgz'), 'fifo');
    assert.match(e.message, /FIFO/);
  });

  test('a character device', async () => {
    gnuTar('/dev', ['-czf', join(archives, 'dev.tgz'), 'null']);
    const e = await assertRejected(join(archives, 'dev.tgz'), 'null');
    assert.match(e.message, /CharacterDevice/);
  });

  test('a file that is not a gzip\'d tar', async () => {
    writeFileSync(join(archives, 'garbage.tgz'), 'hello, this is not an archive\n'.repeat(50));
    writeFileSync(join(archives, 'empty.tgz'), '');
    await assertRejected(join(archives, 'garbage.tgz'), /not a readable gzip'd tar/);
    await assertRejected(join(archives, 'empty.tgz'), /not a readable gzip'd tar/);
  });

  test('a truncated gzip is refused rather than left hanging', { timeout: 20_000 }, async () => {
    const dir = source('trunc');
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(300_000, 7).map((_, i) => (i * 2654435761) >>> 24));
    const whole = join(archives, 'whole.tgz');
    await tar.c({ gzip: true, cwd: dir, file: whole }, ['big.bin']);
    const cut = join(archives, 'cut.tgz');
    writeFileSync(cut, readFileSync(whole).subarray(0, Math.floor(statSync(whole).size / 2)));
    await assertRejected(cut, /not a readable gzip'd tar/);
  });
});

describe('inspectArchive accepts safe archives', () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = source('good');
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'b', 'c'), 'the target\n');
    symlinkSync('b/c', join(dir, 'a'));
    symlinkSync('..', join(dir, 'b', 'root')); // up to the archive root, still inside
    writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(join(dir, 'run.sh'), 0o755);
    linkSync(join(dir, 'b', 'c'), join(dir, 'hard'));
    symlinkSync('b/root/b/c', join(dir, 'via')); // through b/root, which comes later in the archive: still b/c
    file = join(archives, 'good.tgz');
    // GNU tar, not node-tar: node-tar's pack can fail with "write after end" on hard links (isaacs/node-tar#460).
    gnuTar(dir, ['-czf', file, 'via', 'a', 'b', 'run.sh', 'hard']);
  });

  test('symlinks and hard links pointing inside are fine', async () => {
    const before = snapshot(root);
    const r = await inspectArchive(file);
    assert.match(r.contentHash, /^[0-9a-f]{64}$/);
    assert.equal(r.entries, 7); // via, a, b/, b/c, b/root, run.sh, hard
    assert.equal(r.bytes, 'the target\n'.length + '#!/bin/sh\necho hi\n'.length);
    assert.deepEqual(snapshot(root), before);
  });

  test('extractArchive produces the files, links and modes', async () => {
    const out = join(root, 'out');
    await extractArchive(file, out);
    assert.equal(readFileSync(join(out, 'b', 'c'), 'utf8'), 'the target\n');
    assert.equal(readlinkSync(join(out, 'a')), 'b/c');
    assert.equal(readFileSync(join(out, 'a'), 'utf8'), 'the target\n');
    assert.equal(readlinkSync(join(out, 'b', 'root')), '..');
    assert.equal(readFileSync(join(out, 'via'), 'utf8'), 'the target\n');
    assert.equal(statSync(join(out, 'hard')).ino, statSync(join(out, 'b', 'c')).ino);
    assert.equal(statSync(join(out, 'run.sh')).mode & 0o111, 0o111);
    assert.equal(existsSync(join(cwd, 'a')), false);
    assert.deepEqual(readdirSync(cwd), []);
  });

  test('extractArchive forces the owner when given', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
    const out = join(root, 'owned');
    await extractArchive(file, out, { uid: 4321, gid: 4322 });
    const st = statSync(join(out, 'b', 'c'));
    assert.equal(st.uid, 4321);
    assert.equal(st.gid, 4322);
  });

  test('an uncompressed tar is refused: uploads are gzip\'d tars (CONTRACT §2)', async () => {
    const plain = join(archives, 'plain.tar');
    gnuTar(dir, ['-cf', plain, 'via', 'a', 'b', 'run.sh', 'hard']);
    await assert.rejects(inspectArchive(plain), (e: Error) => e instanceof UnsafeArchiveError && /gzip/.test(e.message));
  });

  test('zero blocks after the end of the archive are refused at once, not parsed for minutes', async () => {
    const padded = join(archives, 'padded.tar');
    gnuTar(dir, ['-cf', padded, 'a']);
    execFileSync('sh', ['-c', `head -c ${64 * 1024 * 1024} /dev/zero >> ${padded} && gzip -1 -f ${padded}`]);
    // The old parser accepted this after minutes of CPU; the counter refuses it with this reason.
    await assert.rejects(inspectArchive(`${padded}.gz`), /after the end of the archive/);
  });
});

describe('contentHash', () => {
  let dir: string;
  let n = 0;
  const pack = async (entries = ['.']) => {
    const f = join(archives, `hash-${n++}.tgz`);
    await tar.c({ gzip: true, cwd: dir, file: f }, entries);
    return f;
  };
  const hash = async (entries?: string[]) => (await inspectArchive(await pack(entries))).contentHash;
  const touchAll = (when: Date) => {
    for (const p of ['.', 'src', 'src/main.js', 'README', 'bin.sh']) utimesSync(join(dir, p), when, when);
  };

  before(() => {
    dir = source('hashed');
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'main.js'), 'console.log("hi")\n');
    writeFileSync(join(dir, 'README'), 'readme\n');
    writeFileSync(join(dir, 'bin.sh'), '#!/bin/sh\n');
    chmodSync(join(dir, 'bin.sh'), 0o644);
  });

  test('the same directory packed twice with different times and order has the same hash', async () => {
    touchAll(new Date('2020-01-01T00:00:00Z'));
    const first = await pack();
    touchAll(new Date('2024-06-01T12:00:00Z'));
    const second = await pack();
    assert.notDeepEqual(readFileSync(first), readFileSync(second), 'the archives themselves differ');
    assert.equal((await inspectArchive(first)).contentHash, (await inspectArchive(second)).contentHash);
    assert.equal(await hash(['README', 'src', 'bin.sh']), await hash(['bin.sh', 'src', 'README']));
  });

  test('one changed byte changes the hash', async () => {
    const original = await hash();
    writeFileSync(join(dir, 'src', 'main.js'), 'console.log("ho")\n');
    const changed = await hash();
    writeFileSync(join(dir, 'src', 'main.js'), 'console.log("hi")\n');
    assert.notEqual(changed, original);
    assert.equal(await hash(), original, 'and changing it back restores it');
  });

  test('the executable bit changes the hash, other mode bits do not', async () => {
    const original = await hash();
    chmodSync(join(dir, 'bin.sh'), 0o755);
    const executable = await hash();
    chmodSync(join(dir, 'bin.sh'), 0o600);
    const private_ = await hash();
    chmodSync(join(dir, 'bin.sh'), 0o644);
    assert.notEqual(executable, original);
    assert.equal(private_, original);
  });

  test('a renamed file or a new empty directory changes the hash', async () => {
    const original = await hash();
    mkdirSync(join(dir, 'empty'));
    const withDir = await hash();
    rmSync(join(dir, 'empty'), { recursive: true });
    assert.notEqual(withDir, original);
    const renamed = await hash(['README', 'src', 'bin.sh']);
    const f = join(archives, 'renamed.tgz');
    writeFileSync(join(dir, 'README2'), readFileSync(join(dir, 'README')));
    await tar.c({ gzip: true, cwd: dir, file: f }, ['README2', 'src', 'bin.sh']);
    rmSync(join(dir, 'README2'));
    assert.notEqual((await inspectArchive(f)).contentHash, renamed);
  });

  test('packArchive output is accepted and hashes like any other pack of the directory', async () => {
    const f = join(archives, 'packed.tgz');
    await packArchive(dir, f, ['.']);
    assert.equal((await inspectArchive(f)).contentHash, await hash());
    const filtered = join(archives, 'filtered.tgz');
    await packArchive(dir, filtered, ['.'], (p) => !p.endsWith('README'));
    const listed: string[] = [];
    await tar.t({ file: filtered, onReadEntry: (e) => listed.push(e.path) });
    assert.ok(listed.includes('./bin.sh') && !listed.some((p) => p.endsWith('README')), listed.join(','));
  });
});

describe('limits', () => {
  let file: string;
  before(async () => {
    const dir = source('limits');
    for (const name of ['a', 'b', 'c']) writeFileSync(join(dir, name), '0123456789');
    file = join(archives, 'limits.tgz');
    await tar.c({ gzip: true, cwd: dir, file }, ['a', 'b', 'c']);
  });

  test('maxEntries', async () => {
    assert.equal((await inspectArchive(file, { maxEntries: 3, maxBytes: 1e9 })).entries, 3);
    await assert.rejects(inspectArchive(file, { maxEntries: 2, maxBytes: 1e9 }), (e: Error) => e instanceof UnsafeArchiveError && /more than 2 entries/.test(e.message));
  });

  test('maxBytes', async () => {
    assert.equal((await inspectArchive(file, { maxEntries: 10, maxBytes: 30 })).bytes, 30);
    await assert.rejects(inspectArchive(file, { maxEntries: 10, maxBytes: 29 }), (e: Error) => e instanceof UnsafeArchiveError && /more than 29 bytes/.test(e.message));
  });
});

/** A gzip'd tar of symbolic links written header by header (PAX records for long names), for what no filesystem holds. */
function craftLinks(links: { path: string; target: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const { path, target } of links) {
    blocks.push(new tar.Pax({ path, linkpath: target, mtime: new Date(0) }).encode());
    const header = new tar.Header({ path: path.slice(0, 99), type: 'SymbolicLink', linkpath: target.slice(0, 99), mode: 0o777, size: 0, mtime: new Date(0), uid: 0, gid: 0 });
    header.encode();
    blocks.push(header.block as Buffer);
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

describe('link resolution stays linear (issue 11: a sub-MiB upload held the event loop for seconds)', () => {
  test('the crafted slow-symlink upload (x -> ., y -> a/a/a/… 40 KB) is refused for its target length', async () => {
    const file = join(archives, 'slow-symlink.tgz');
    writeFileSync(file, craftLinks([{ path: 'x', target: '.' }, { path: 'y', target: 'a/'.repeat(20_000) + 'a' }]));
    await assertRejected(file, /link "y" has a target longer than 4096 bytes/);
  });

  test('an entry path past PATH_MAX is refused', async () => {
    const file = join(archives, 'long-path.tgz');
    writeFileSync(file, craftLinks([{ path: 'd/'.repeat(3000) + 'l', target: '.' }]));
    await assertRejected(file, /is longer than 4096 bytes/);
  });

  test('more links than maxLinks are refused', async () => {
    const file = join(archives, 'many-links.tgz');
    writeFileSync(file, craftLinks(Array.from({ length: 11 }, (_, i) => ({ path: `l${i}`, target: '.' }))));
    assert.equal((await inspectArchive(file)).entries, 11);
    await assert.rejects(inspectArchive(file, { maxEntries: 100, maxBytes: 1e9, maxLinks: 10 }), (e: Error) => e instanceof UnsafeArchiveError && /more than 10 links/.test(e.message));
  });

  test('20 000 links chained one to the next are refused past the kernel\'s 40 nested links, in either order', async () => {
    const chain = Array.from({ length: 20_000 }, (_, i) => ({ path: `l${i}`, target: i === 0 ? '.' : `l${i - 1}` }));
    const forward = join(archives, 'chain-20k.tgz');
    const backward = join(archives, 'chain-20k-reversed.tgz');
    writeFileSync(forward, craftLinks(chain));
    writeFileSync(backward, craftLinks([...chain].reverse()));
    await assertRejected(forward, /nested links/);
    await assertRejected(backward, /nested links/);
  });

  test('5 000 links with 4 KB targets through a shared chain of 30 are accepted', async () => {
    const deep = 'a/'.repeat(2_000) + 'a';
    const chain = Array.from({ length: 30 }, (_, i) => ({ path: `c${i}`, target: i === 0 ? '.' : `c${i - 1}` }));
    const wide = Array.from({ length: 5_000 }, (_, i) => ({ path: `w${i}`, target: `c29/${deep}` }));
    const file = join(archives, 'wide-20k.tgz');
    writeFileSync(file, craftLinks([...wide, ...chain]));
    assert.equal((await inspectArchive(file, { maxEntries: 10_000, maxBytes: 1e9, maxLinkTargetBytes: 64 * 1024 * 1024 })).entries, 5_030);
    // By default their 20 MB of targets are past the cap, refused as they are read.
    await assertRejected(file, /targets add up to more than 1048576 bytes/);
  });

  test('a link through a chain that climbs out at its end is still refused among 20 000 good ones', async () => {
    const chain = Array.from({ length: 30 }, (_, i) => ({ path: `c${i}`, target: i === 0 ? '.' : `c${i - 1}` }));
    const wide = Array.from({ length: 20_000 }, (_, i) => ({ path: `w${i}`, target: 'c29/x' }));
    const file = join(archives, 'wide-bad.tgz');
    writeFileSync(file, craftLinks([...wide, ...chain, { path: 'bad', target: 'c29/c28/../..' }]));
    await assertRejected(file, 'bad');
  });
});
