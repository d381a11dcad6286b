import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { rotateLogs } from '../src/platform/log-rotation.js';

const dir = mkdtempSync(join(tmpdir(), 'nap-rotate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a log past its limit is copied aside and emptied, and the program writing it goes on at its start', async () => {
  const log = join(dir, 'dea.log');
  const fd = openSync(log, 'a'); // as a program started by the supervisor holds it: O_APPEND
  writeSync(fd, 'a'.repeat(2000));
  writeFileSync(join(dir, 'router.log'), 'small\n');
  writeFileSync(join(dir, 'notes.txt'), 'x'.repeat(5000));
  assert.deepEqual(await rotateLogs(dir, 1024), ['dea.log']);
  assert.equal(readFileSync(`${log}.1`, 'utf8'), 'a'.repeat(2000));
  writeSync(fd, 'after\n');
  assert.equal(readFileSync(log, 'utf8'), 'after\n', 'no hole of 2000 NULs before the new line');
  assert.equal(readFileSync(join(dir, 'router.log'), 'utf8'), 'small\n', 'a small log is left alone');
  assert.equal(statSync(join(dir, 'notes.txt')).size, 5000, 'only *.log files');

  writeSync(fd, 'b'.repeat(2000));
  await rotateLogs(dir, 1024);
  writeSync(fd, 'c'.repeat(2000));
  await rotateLogs(dir, 1024);
  closeSync(fd);
  // Two kept: the newest in .1; the first (all a) is gone.
  assert.match(readFileSync(`${log}.1`, 'utf8'), /^c{2000}$/);
  assert.match(readFileSync(`${log}.2`, 'utf8'), /^after\nb{2000}$/);
  assert.throws(() => statSync(`${log}.3`));
  assert.equal(statSync(log).size, 0);
});
