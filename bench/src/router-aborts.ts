// bench/router-aborts: what 10,000 requests whose clients give up while the app still holds them
// leave behind in a router: heap (after a full collection), file descriptors, pooled sockets.
// The router runs in this process (clients too, as in the router's aborts test, which checks the
// exact counts); run as `node --expose-gc`. Writes bench/results/router-aborts.md.
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createLogger, freePort, loadSettings } from '@nap/common';
import { startRouter } from '@nap/router';
import { eventually, repoRoot, startEngines } from '@nap/testkit';

const WARM_BATCHES = 4;
const BATCHES = 40;
const BATCH = 250;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const collect = () => {
  gc();
  gc();
};

const engines = await startEngines();
const routerPort = await freePort();
const settings = loadSettings({ ...engines.envOf.router, NAP_ROUTER_PORT: String(routerPort), NAP_ROUTER_STATUS_PORT: String(await freePort()), NAP_LOG_LEVEL: 'silent' });
const router = await startRouter(settings, createLogger('bench', 'silent'), { listenHost: '127.0.0.1', accessLog: false, claims: false });

// An app that never answers: every request stays open at it until the router lets go.
let arrived = 0;
const hung = http.createServer(() => void arrived++);
await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
const appPort = (hung.address() as AddressInfo).port;
router.table.register({ host: '127.0.0.1', port: appPort, uris: ['hung.bench'], app: 'hung', privateInstanceId: 'hung-0' });

const openFds = () => readdirSync('/proc/self/fd').length;
const appConnections = () => new Promise<number>((resolve, reject) => hung.getConnections((err, n) => (err ? reject(err) : resolve(n))));

async function abortBatch(count: number): Promise<void> {
  const target = arrived + count;
  const clients = Array.from({ length: count }, () => {
    const req = http.request({ host: '127.0.0.1', port: routerPort, headers: { host: 'hung.bench' }, agent: false });
    req.on('error', () => {});
    req.end();
    return req;
  });
  await eventually(async () => arrived >= target || null, 10_000, `${count} requests at the app`);
  for (const c of clients) c.destroy();
}

async function settled(): Promise<void> {
  await eventually(async () => ((await appConnections()) === 0 && router.metrics.inFlight === 0) || null, 10_000, 'the router to let go of every request');
}

try {
  for (let i = 0; i < WARM_BATCHES; i++) await abortBatch(BATCH);
  await settled();
  collect();
  const fdsBefore = openFds();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  for (let i = 0; i < BATCHES; i++) await abortBatch(BATCH);
  const ms = performance.now() - started;
  await settled();
  collect();
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  const fdGrowth = openFds() - fdsBefore;
  const upstream = router.report().upstream;
  const aborted = BATCHES * BATCH;
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MB`;
  console.log(`${aborted} aborted requests in ${(ms / 1000).toFixed(1)} s: heap ${heapGrowth >= 0 ? '+' : ''}${mb(heapGrowth)}, fds +${fdGrowth}, upstream sockets active ${upstream.active} idle ${upstream.idle}`);
  const table = [
    '# Router: requests aborted by their clients',
    '',
    `${aborted} requests (after ${WARM_BATCHES * BATCH} to warm up), ${BATCH} at a time, each held by an app that never answers until its client gives up. Measured in the router's process after a full collection. Target: the heap grows by less than 8 MB, no descriptor or socket is left.`,
    '',
    '| figure | value |',
    '|---|---|',
    `| heap growth | ${mb(heapGrowth)} |`,
    `| file descriptors left | ${fdGrowth} |`,
    `| upstream sockets active / idle | ${upstream.active} / ${upstream.idle} |`,
    `| requests in flight after | ${router.metrics.inFlight} |`,
    `| time for the ${aborted} | ${(ms / 1000).toFixed(1)} s |`,
    '',
  ].join('\n');
  await writeFile(join(repoRoot, 'bench/results/router-aborts.md'), table);
} finally {
  await router.close();
  hung.closeAllConnections();
  hung.close();
  await engines.stop();
}
