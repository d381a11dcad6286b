import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { freePort } from '@nap/common';
import { PortAllocator } from '../src/instances/port-allocator.js';

test('allocates distinct ports inside the range, skipping one that is taken, and runs out cleanly', async () => {
  const base = await freePort();
  const busy: Server = await new Promise((resolve) => {
    const s = createServer();
    s.listen(base + 1, '0.0.0.0', () => resolve(s));
  });
  try {
    const ports = new PortAllocator([base, base + 2]);
    const got = [await ports.allocate(), await ports.allocate()].sort();
    assert.deepEqual(got, [base, base + 2]);
    await assert.rejects(ports.allocate(), /no free port/);
    ports.release(base);
    assert.equal(await ports.allocate(), base);
  } finally {
    busy.close();
  }
});
