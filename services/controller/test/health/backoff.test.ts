import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restartDelayMs } from '../../src/health/backoff.js';
import { crashesOf } from '../../src/store/crash-history.js';

test("Cloud Foundry's crash policy: three restarts at once, then 30 s doubling up to a 16-minute cap", () => {
  const minutes = (ms: number) => ms / 60_000;
  // crash count -> wait before the next start, as Cloud Foundry documents it
  const expected: [number, number][] = [
    [0, 0],
    [1, 0],
    [2, 0],
    [3, 0],
    [4, 0.5],
    [5, 1],
    [6, 2],
    [7, 4],
    [8, 8],
    [9, 16],
    [10, 16],
    [50, 16],
    [5000, 16],
  ];
  assert.deepEqual(
    expected.map(([count]) => [count, minutes(restartDelayMs(count))]),
    expected,
  );
});

test("a slot's crash count holds only against the version that crashed", () => {
  const history = { count: 5, last_crash: 1000, version: 'v2' };
  assert.equal(crashesOf(history, 'v2'), history);
  assert.equal(crashesOf(history, 'v3'), undefined, 'a new version starts from zero');
  assert.equal(crashesOf(undefined, 'v2'), undefined);
  // Records written before crash counts carried a version hold against any.
  assert.deepEqual(crashesOf({ count: 2, last_crash: 5 }, 'v9'), { count: 2, last_crash: 5 });
});
