import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RotatingLog } from '../src/runtime/rotating-log.js';

const dir = mkdtempSync(join(tmpdir(), 'nap-rotating-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const at = new Date('2026-01-02T03:04:05.678Z');
const stamp = '2026-01-02T03:04:05.678Z ';

test('every line starts with its arrival time, however the output is cut into chunks', () => {
  const file = join(dir, 'chunks.log');
  const log = new RotatingLog(file, 1024 * 1024);
  log.write(Buffer.from('one\ntw'), at);
  log.write(Buffer.from('o\nthree'), at);
  log.write(Buffer.from(' (never ended)'), at);
  log.close();
  assert.equal(readFileSync(file, 'utf8'), `${stamp}one\n${stamp}two\n${stamp}three (never ended)`);
});

test('at the size cap the file moves to .1 and a new one begins; at most two files are kept', () => {
  const file = join(dir, 'capped.log');
  const log = new RotatingLog(file, 100);
  const line = 'x'.repeat(40);
  for (let i = 0; i < 10; i++) log.write(Buffer.from(`${line}\n`), at);
  log.close();
  assert.ok(existsSync(`${file}.1`));
  assert.ok(!existsSync(`${file}.2`));
  assert.ok(readFileSync(file).length <= 100);
  assert.ok(readFileSync(`${file}.1`).length <= 100);
  assert.match(readFileSync(file, 'utf8'), new RegExp(`^${stamp.replace(/\./g, '\\.')}x{40}\n`));
});

test('a file that exists is appended to, its size counted toward the cap', () => {
  const file = join(dir, 'reopened.log');
  const first = new RotatingLog(file, 1000);
  first.write(Buffer.from('a\n'), at);
  first.close();
  const second = new RotatingLog(file, 1000);
  second.write(Buffer.from('b\n'), at);
  second.close();
  assert.equal(readFileSync(file, 'utf8'), `${stamp}a\n${stamp}b\n`);
});
