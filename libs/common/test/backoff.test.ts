import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Backoff, retry, sleep } from '../src/backoff.js';
import { RepeatedFailureLog } from '../src/repeated-failure-log.js';

describe('Backoff', () => {
  test('steps double from the first to the cap, each wait between half and all of its step', () => {
    const low = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 });
    const high = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.999999 });
    const lows = Array.from({ length: 7 }, () => low.next());
    const highs = Array.from({ length: 7 }, () => high.next());
    assert.deepEqual(lows, [50, 100, 200, 400, 500, 500, 500]);
    assert.deepEqual(highs, [100, 200, 400, 800, 1000, 1000, 1000]);
    assert.equal(low.attempts, 7);
  });

  test('a success starts over at the first step', () => {
    const b = new Backoff({ minMs: 100, maxMs: 10_000, random: () => 0 });
    for (let i = 0; i < 5; i++) b.next();
    b.reset();
    assert.equal(b.attempts, 0);
    assert.equal(b.next(), 50);
  });

  test('no wait is near zero, whatever it is given: a repeated failure cannot spin', () => {
    const b = new Backoff({ minMs: 0, maxMs: 0, random: () => 0 });
    assert.ok(b.next() >= 5, 'the floor holds');
    const huge = new Backoff({ minMs: 100, maxMs: 2000, random: () => 0 });
    for (let i = 0; i < 10_000; i++) huge.next();
    assert.equal(huge.next(), 1000, 'a long outage stays at the cap, no overflow');
  });
});

describe('retry', () => {
  test('tries until the call succeeds, waiting between failures, and says each failure', async () => {
    let calls = 0;
    const failures: number[] = [];
    const started = Date.now();
    const value = await retry(
      async () => {
        calls++;
        if (calls < 4) throw new Error(`no ${calls}`);
        return 'yes';
      },
      { backoff: new Backoff({ minMs: 20, maxMs: 40, random: () => 0 }), onFailure: (_e, wait) => failures.push(wait) },
    );
    assert.equal(value, 'yes');
    assert.equal(calls, 4);
    assert.deepEqual(failures, [10, 20, 20]);
    assert.ok(Date.now() - started >= 45, 'it waited');
  });

  test('an abort ends the tries with the last error', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new Error('etcd is away');
        },
        { backoff: new Backoff({ minMs: 10, maxMs: 20 }), signal: ac.signal },
      ),
      /etcd is away/,
    );
    assert.ok(calls >= 2 && calls < 20, `a bounded number of tries in 50 ms (${calls})`);
  });

  test('sleep ends early on abort', async () => {
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 20);
    await sleep(10_000, ac.signal);
    assert.ok(Date.now() - started < 1000);
  });
});

describe('RepeatedFailureLog', () => {
  function capture() {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    return { lines, log: pino({ level: 'info' }, sink) };
  }

  test('the first failure is logged, then one line per interval with the count, then one line on recovery', async () => {
    const { lines, log } = capture();
    let now = 0;
    const failures = new RepeatedFailureLog(log, 60_000, () => now);
    for (let i = 0; i < 1000; i++) {
      failures.failed('etcd unreachable', new Error('connect ECONNREFUSED'));
      now += 100; // 1000 failures over 100 s
    }
    failures.recovered('etcd unreachable', 'etcd answers again');
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 3, JSON.stringify(lines));
    assert.equal(lines[0].msg, 'etcd unreachable');
    assert.equal(lines[0].err, 'connect ECONNREFUSED');
    assert.equal(lines[1].repeated, 600);
    assert.equal(lines[1].failing_for_s, 60);
    assert.equal(lines[2].msg, 'etcd answers again');
    assert.equal(lines[2].failures, 1000);
    assert.equal(failures.isFailing('etcd unreachable'), false);
  });

  test('each kind of failure has its own interval; a recovery of something that never failed says nothing', async () => {
    const { lines, log } = capture();
    const failures = new RepeatedFailureLog(log, 60_000, () => 0);
    failures.failed('etcd unreachable', new Error('a'));
    failures.failed('nats unreachable', new Error('b'));
    failures.failed('etcd unreachable', new Error('a'));
    failures.recovered('docker unreachable', 'docker is back');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines.map((l) => l.msg), ['etcd unreachable', 'nats unreachable']);
  });
});
