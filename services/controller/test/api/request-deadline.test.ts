import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, test } from 'node:test';
import { httpGet } from '@nap/testkit';
import express from 'express';
import { requestDeadline } from '../../src/api/request-deadline.js';

let server: Server;
let base: string;
const stuck: (() => void)[] = [];

before(async () => {
  const app = express();
  app.use(requestDeadline(200));
  // A handler that never answers (etcd unreachable, say), and the routes that wait on purpose.
  app.get('/v1/apps', () => {});
  app.post('/v1/apps/:name/start', (_req, res) => {
    stuck.push(() => res.json({ started: true }));
  });
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test('a handler that does not answer in time gets the client a clear 503, not a hung socket', async () => {
  const r = await httpGet(`${base}/v1/apps`);
  assert.equal(r.status, 503);
  const { error } = JSON.parse(r.body) as { error: { code: string; message: string } };
  assert.equal(error.code, 'timeout');
  assert.match(error.message, /took longer than .* GET \/v1\/apps: try again/);
});

test('start (which waits for staging) is not cut by the deadline', async () => {
  const answer = httpGet(`${base}/v1/apps/x/start`, {}, 'POST');
  // Answer only once the deadline has long passed: the client must get the handler's answer.
  await new Promise((r) => setTimeout(r, 600));
  stuck.shift()?.();
  const r = await answer;
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), { started: true });
});
