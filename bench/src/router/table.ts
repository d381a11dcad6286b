// Run by bench/router as `node --expose-gc table.js N`: N routes (one host each, one endpoint
// each) registered directly into a RouteTable in this otherwise idle process; prints one JSON line
// with the memory they take and how many lookups per second the table answers.
import { RouteTable } from '@nap/router';

const N = Number(process.argv[2] ?? 100_000);
const LOOKUPS = 5_000_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

// Everything the test itself holds is made before the first measure, so the delta is the table's.
const hosts = Array.from({ length: N }, (_, i) => `app-${i}.bench.nap.localhost`);
const registrations = hosts.map((host, i) => ({
  host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  port: 61000 + (i % 4000),
  uris: [host],
  app: `app-${i}`,
  privateInstanceId: `instance-${i}`,
}));
// Lookups in a random order, so they are not served by a cache line that the previous one warmed.
const order = new Uint32Array(LOOKUPS);
for (let i = 0; i < LOOKUPS; i++) order[i] = Math.floor(Math.random() * N);

gc();
gc();
const before = process.memoryUsage();
let table: RouteTable | undefined = new RouteTable();
const registerStarted = performance.now();
for (const r of registrations) table.register(r);
const registerMs = performance.now() - registerStarted;
gc();
gc();
const after = process.memoryUsage();

let hits = 0;
const lookup = (count: number) => {
  for (let i = 0; i < count; i++) if (table!.lookup(hosts[order[i]]) !== undefined) hits++;
};
lookup(200_000); // warm-up: the JIT settles before the clock starts
hits = 0;
const lookupStarted = performance.now();
lookup(LOOKUPS);
const lookupMs = performance.now() - lookupStarted;
if (hits !== LOOKUPS) throw new Error(`only ${hits} of ${LOOKUPS} lookups found their route`);

// Referenced to the end so nothing is collected before the second measure.
table = undefined;

process.stdout.write(
  `${JSON.stringify({
    routes: N,
    heapUsedDelta: after.heapUsed - before.heapUsed,
    rssDelta: after.rss - before.rss,
    rssAfter: after.rss,
    registerPerSec: N / (registerMs / 1000),
    lookups: LOOKUPS,
    lookupsPerSec: LOOKUPS / (lookupMs / 1000),
  })}\n`,
);
