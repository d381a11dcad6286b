import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuSharesFor, DEFAULT_FDS, hostLimits } from '../../src/runtime/container-limits.js';

test("CPU shares follow memory as Cloud Foundry's: 1024 × clamp(memory, 128, 8192) / 8192", () => {
  const cases: [number, number][] = [
    [1, 16], // the floor: a tiny app still gets the share of 128 MB
    [64, 16],
    [128, 16],
    [256, 32],
    [512, 64],
    [1000, 125],
    [1024, 128],
    [4096, 512],
    [8192, 1024],
    [65536, 1024], // the ceiling: more memory buys no more than a whole share
  ];
  for (const [memory, shares] of cases) assert.equal(cpuSharesFor(memory), shares, `${memory} MB`);
  // Never below Docker's minimum of 2, never above the kernel's default weight.
  for (let mb = 1; mb <= 100_000; mb += 97) {
    const s = cpuSharesFor(mb);
    assert.ok(s >= 2 && s <= 1024, `${mb} MB → ${s}`);
  }
});

test('the container spec carries the shares and a nofile limit the app cannot raise', () => {
  assert.deepEqual(hostLimits(256, 4096), { CpuShares: 32, Ulimits: [{ Name: 'nofile', Soft: 4096, Hard: 4096 }] });
  assert.deepEqual(hostLimits(2048).Ulimits, [{ Name: 'nofile', Soft: DEFAULT_FDS, Hard: DEFAULT_FDS }]);
  assert.equal(DEFAULT_FDS, 16384, "Cloud Foundry's default");
});
