import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { freePort } from '@nap/common';
import { PortAllocator } from '../src/instances/port-allocator.js';

function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Three consecutive free ports with the middle one held: other tests on the machine take ports too, so look until a run of three is free. */
async function rangeWithBusyMiddle(): Promise<{ base: number; busy: Server }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort();
    const held = await Promise.all([listenOn(base), listenOn(base + 1), listenOn(base + 2)]);
    const [first, middle, last] = held;
    if (first && middle && last) {
      await Promise.all([close(first), close(last)]);
      return { base, busy: middle };
    }
    await Promise.all(held.filter((s): s is Server => s !== undefined).map(close));
  }
  throw new Error('found no three consecutive free ports');
}

test('allocates distinct ports inside the range, skipping one that is taken, and runs out cleanly', async () => {
  const { base, busy } = await rangeWithBusyMiddle();
  try {
    const ports = new PortAllocator([base, base + 2]);
    const got = [await ports.allocate(), await ports.allocate()].sort((a, b) => a - b);
    assert.deepEqual(got, [base, base + 2]);
    await assert.rejects(ports.allocate(), /no free port/);
    ports.release(base);
    assert.equal(await ports.allocate(), base);
  } finally {
    await close(busy);
  }
});
