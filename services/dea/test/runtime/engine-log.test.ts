import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type LogFrame, logFrames, unseenFrames } from '../../src/runtime/docker-runtime.js';

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

test("the engine's multiplexed log with timestamps is split into frames: stream, time and text", () => {
  const body = Buffer.concat([frame(1, '2026-12-05T18:00:00.123456789Z tick 1\n'), frame(2, '2026-12-05T18:00:01.5Z oops\n'), frame(1, '2026-12-05T18:00:02Z a line with  two spaces\n')]);
  const frames = logFrames(body);
  assert.deepEqual(
    frames.map((f) => [f.stream, f.at.toISOString(), f.data.toString()]),
    [
      [1, '2026-12-05T18:00:00.123Z', 'tick 1\n'],
      [2, '2026-12-05T18:00:01.500Z', 'oops\n'],
      [1, '2026-12-05T18:00:02.000Z', 'a line with  two spaces\n'],
    ],
  );
});

test('a truncated last frame is kept as far as it goes, and an empty body has no frames', () => {
  assert.deepEqual(logFrames(Buffer.alloc(0)), []);
  const cut = frame(1, '2026-12-05T18:00:00Z tick 1\n').subarray(0, 20);
  assert.equal(logFrames(cut).length, 1);
  assert.equal(logFrames(cut.subarray(0, 5)).length, 0);
});

const at = (ms: number) => new Date(ms);
const f = (stream: number, ms: number, text: string): LogFrame => ({ stream, at: at(ms), data: Buffer.from(text) });

test('frames that are the very end of what the attached stream delivered are dropped, the rest kept', () => {
  const tails = new Map([
    [1, Buffer.from('tick 7\ntick 8\ntick 9\n')],
    [2, Buffer.from('warn\n')],
  ]);
  const frames = [f(1, 1000, 'tick 8\n'), f(1, 1001, 'tick 9\n'), f(2, 1001, 'boom\n'), f(1, 1100, 'tick 10\n')];
  assert.deepEqual(
    unseenFrames(frames, tails, 1000).map((x) => x.data.toString()),
    ['boom\n', 'tick 10\n'],
  );
});

test('a line printed again after the gap is kept when it is not the end of what was delivered', () => {
  const tails = new Map([[1, Buffer.from('ok\nnext\n')]]);
  assert.deepEqual(
    unseenFrames([f(1, 1000, 'ok\n'), f(1, 1001, 'more\n')], tails, 1000).map((x) => x.data.toString()),
    ['ok\n', 'more\n'],
  );
});

test('nothing is dropped long after the last byte received, nor from a stream that delivered nothing', () => {
  const tails = new Map([[1, Buffer.from('tick 9\n')]]);
  assert.equal(unseenFrames([f(1, 10_000, 'tick 9\n')], tails, 1000).length, 1);
  assert.equal(unseenFrames([f(2, 1000, 'tick 9\n')], tails, 1000).length, 1);
});
