import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { UpstreamPool } from '../src/proxy/upstream-pool.js';
import { Address } from '../src/table/endpoint.js';

test('a connection paused for a slow client reads again once it is back in the pool, and is the next one handed out', async () => {
  const server = net.createServer((s) => s.on('data', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const pool = new UpstreamPool({ idleMs: 4000, connectTimeoutMs: 1000, maxIdlePerAddress: 4 });
  try {
    const address = new Address(`127.0.0.1:${port}`, '127.0.0.1', port);
    const conn = pool.acquire(address);
    await new Promise((resolve) => conn.socket.once('connect', resolve));
    // What the proxy does when the client's side is full: stop reading from the app.
    conn.socket.pause();
    pool.release(conn);
    assert.equal(conn.socket.isPaused(), false, 'released while paused: the next answer on it would never be read');
    assert.equal(pool.acquire(address), conn);
  } finally {
    pool.close();
    await new Promise((resolve) => server.close(resolve));
  }
});
