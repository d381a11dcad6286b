// bench/api: the controller's API with 1,000 apps stored: the time to create them, and p50/p99 of
// GET /v1/apps and GET /v1/apps/:name. Real etcd and NATS; no DEA needed. Writes bench/results/api.md.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createLogger, freePort, loadSettings } from '@nap/common';
import { startController } from '@nap/controller';
import { repoRoot, startEngines } from '@nap/testkit';

const APPS = 1000;
const LIST_REQUESTS = 200;
const GET_REQUESTS = 1000;

const agent = new Agent({ keepAlive: true, maxSockets: 16 });
function call(port: number, token: string, method: string, path: string, body?: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

const engines = await startEngines();
const port = await freePort();
const token = randomBytes(24).toString('hex');
const settings = loadSettings({
  ...engines.env,
  NAP_CONTROLLER_PORT: String(port),
  NAP_ADMIN_TOKEN: token,
  NAP_DIRECTORY_SECRET: randomBytes(24).toString('hex'),
  NAP_LOG_LEVEL: 'warn',
});
const controller = await startController(settings, createLogger('bench', 'warn'));
try {
  const started = performance.now();
  for (let batch = 0; batch < APPS; batch += 20) {
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const r = await call(port, token, 'PUT', `/v1/apps/app-${batch + i}`, JSON.stringify({ instances: 2, memory: '128M', env: { N: String(batch + i) } }));
        if (r.status !== 201) throw new Error(`create answered ${r.status}`);
      }),
    );
  }
  const createS = (performance.now() - started) / 1000;
  console.log(`created ${APPS} apps in ${createS.toFixed(2)} s`);

  const list: number[] = [];
  for (let i = 0; i < LIST_REQUESTS; i++) list.push((await call(port, token, 'GET', '/v1/apps')).ms);
  const one: number[] = [];
  for (let i = 0; i < GET_REQUESTS; i++) one.push((await call(port, token, 'GET', `/v1/apps/app-${Math.floor(Math.random() * APPS)}`)).ms);
  const row = (what: string, xs: number[]) => `| ${what} | ${pct(xs, 50).toFixed(1)} | ${pct(xs, 99).toFixed(1)} | < 50 |`;
  const table = [
    '# bench/api',
    '',
    `${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. One controller on real etcd and NATS, ${APPS} apps stored, sequential requests over keep-alive.`,
    '',
    '| request | p50 ms | p99 ms | p99 target ms |',
    '|---|---|---|---|',
    row(`GET /v1/apps (all ${APPS}), ${LIST_REQUESTS} times`, list),
    row(`GET /v1/apps/:name, ${GET_REQUESTS} times`, one),
    '',
    `Creating ${APPS} apps (20 at a time): ${createS.toFixed(2)} s.`,
    '',
  ].join('\n');
  await writeFile(join(repoRoot, 'bench/results/api.md'), table);
  console.log(`\n${table}`);
} finally {
  agent.destroy();
  await controller.close();
  await engines.stop();
}
