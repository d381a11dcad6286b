// bench/hostile-uploads: what a hostile developer's requests cost everyone else. One controller (its
// own process, on real etcd and NATS); alice lists her apps (GET /v1/apps) while mallory, another
// developer, keeps creating and rewriting apps at every field limit, tries the old 1 MB of routes,
// and uploads the crafted slow-symlink archive and the widest symlink archive the caps allow.
// Reports alice's p50/p99 alone and during the attack, and how fast mallory is refused.
// Writes bench/results/hostile-uploads.md. Issue 11's target: p99 < 50 ms for everyone else.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnDetached, stopPid, waitForPort } from '@nap/common';
import { repoRoot, slowSymlinkArchive, startEngines, wideSymlinkArchive } from '@nap/testkit';

const BIG_APPS = 6;
const ALICE_REQUESTS = 300;

const agent = new Agent({ keepAlive: true, maxSockets: 16 });
function call(port: number, token: string, method: string, path: string, body?: string | Buffer, type = 'application/json'): Promise<{ status: number; ms: number; body: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

/** The biggest app the field limits allow (about 245 KB stored). */
function biggestApp(n: number, round: number) {
  return JSON.stringify({
    command: `${round}`.padEnd(8192, 'c'),
    env: Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`BIG_${i}`, 'e'.repeat(8150)])),
    routes: Array.from({ length: 100 }, (_, i) => `big${n}-${i}-${'r'.repeat(50)}.nap.localhost`),
    processes: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`worker${i}`, { instances: 0, command: 'w'.repeat(8192) }])),
  });
}

const engines = await startEngines();
const port = await freePort();
const token = randomBytes(24).toString('hex');
const pid = spawnDetached(process.execPath, [join(repoRoot, 'services/controller/dist/src/main.js')], {
  logFile: join(engines.dir, 'logs', 'controller.log'),
  env: { ...process.env, ...engines.env, NAP_HOME: join(engines.dir, 'home'), NAP_CONTROLLER_PORT: String(port), NAP_ADMIN_TOKEN: token, NAP_DIRECTORY_SECRET: randomBytes(24).toString('hex'), NAP_LOG_LEVEL: 'warn' },
  cwd: repoRoot,
});
try {
  if (!(await waitForPort('127.0.0.1', port, 30_000))) throw new Error('the controller did not start');
  const user = async (name: string) => JSON.parse((await call(port, token, 'POST', '/v1/users', JSON.stringify({ name }))).body).token as string;
  const alice = await user('alice');
  const mallory = await user('mallory');
  for (let i = 0; i < 5; i++) await call(port, alice, 'PUT', `/v1/apps/alice-${i}`, JSON.stringify({ env: { N: String(i) } }));

  const aliceLists = async (count: number) => {
    const ms: number[] = [];
    for (let i = 0; i < count; i++) {
      const r = await call(port, alice, 'GET', '/v1/apps');
      if (r.status !== 200) throw new Error(`alice's GET /v1/apps answered ${r.status}: ${r.body.slice(0, 200)}`);
      ms.push(r.ms);
    }
    return ms;
  };
  const alone = await aliceLists(ALICE_REQUESTS);

  // Mallory: six apps at every limit, then rewrites of them, the old 1 MB of routes, and the two archives, round after round.
  const refusals: Record<string, { ms: number[]; statuses: Set<number> }> = {};
  const note = (what: string, r: { status: number; ms: number }) => {
    refusals[what] ??= { ms: [], statuses: new Set() };
    refusals[what].ms.push(r.ms);
    refusals[what].statuses.add(r.status);
  };
  for (let n = 0; n < BIG_APPS; n++) note('create an app at every field limit (~250 KB)', await call(port, mallory, 'PUT', `/v1/apps/big-${n}`, biggestApp(n, 0)));
  const besideBigApps = await aliceLists(ALICE_REQUESTS);
  let attacking = true;
  const slow = slowSymlinkArchive();
  const wide = wideSymlinkArchive();
  const wider = wideSymlinkArchive(5_000);
  const oneMegOfRoutes = JSON.stringify({ routes: Array.from({ length: 100 }, (_, i) => `${'x'.repeat(10_000)}${i}.nap.localhost`) });
  const attack = (async () => {
    for (let round = 1; attacking; round++) {
      note('rewrite an app at every field limit', await call(port, mallory, 'PUT', `/v1/apps/big-${round % BIG_APPS}`, biggestApp(round % BIG_APPS, round)));
      note('1 MB of routes (the old outage)', await call(port, mallory, 'PUT', `/v1/apps/huge-${round}`, oneMegOfRoutes));
      note('slow-symlink archive (231 B)', await call(port, mallory, 'PUT', `/v1/apps/big-0/bits`, slow, 'application/gzip'));
      note(`5 000 links of 4 KB (${Math.round(wider.length / 1024)} KB, past the 1 MiB of targets)`, await call(port, mallory, 'PUT', `/v1/apps/big-2/bits`, wider, 'application/gzip'));
      note(`widest symlink archive within the caps (${Math.round(wide.length / 1024)} KB, 280 links of up to 4 KB)`, await call(port, mallory, 'PUT', `/v1/apps/big-1/bits`, wide, 'application/gzip'));
    }
  })();
  const during = await aliceLists(ALICE_REQUESTS);
  attacking = false;
  await attack;

  const row = (what: string, xs: number[], target = '< 50') => `| ${what} | ${xs.length} | ${pct(xs, 50).toFixed(1)} | ${pct(xs, 99).toFixed(1)} | ${target} |`;
  const table = [
    '# bench/hostile-uploads',
    '',
    `${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. One controller in its own process on real etcd and NATS. Alice (5 apps) lists her apps with sequential GET /v1/apps over keep-alive; mallory, another developer, has ${BIG_APPS} apps at every field limit and keeps rewriting them, tries 1 MB of routes, and uploads the slow-symlink archive and the widest symlink archive the caps allow, one request after another.`,
    '',
    '| alice: GET /v1/apps | requests | p50 ms | p99 ms | p99 target ms |',
    '|---|---|---|---|---|',
    row('alone', alone),
    row(`beside mallory's ${BIG_APPS} apps at every limit (idle)`, besideBigApps),
    row('while mallory attacks', during),
    '',
    '| mallory | requests | p50 ms | p99 ms | answers |',
    '|---|---|---|---|---|',
    ...Object.entries(refusals).map(([what, r]) => `| ${what} | ${r.ms.length} | ${pct(r.ms, 50).toFixed(1)} | ${pct(r.ms, 99).toFixed(1)} | ${[...r.statuses].join(', ')} |`),
    '',
  ].join('\n');
  await writeFile(join(repoRoot, 'bench/results/hostile-uploads.md'), table);
  console.log(`\n${table}`);
} finally {
  agent.destroy();
  await stopPid(pid, 10_000);
  await engines.stop();
}
