// bench/logs: how fast an app's output reaches `nap logs --follow` (median and p99 over 100 lines),
// and how fast a large log downloads through the directory server. Writes bench/results/logs.md.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@nap/common';
import { httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

const LINES = 100;
const FLOOD_LINES = 80_000;

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

const platform = await TestPlatform.start();
const env = platform.cliEnv();
const get = (path: string) => httpGet(`${platform.routerUrl}${path}`, { Host: 'log-demo.nap.localhost' });
try {
  const push = await nap(['push', 'log-demo', '-p', join(repoRoot, 'examples/log-demo')], env);
  if (push.code !== 0) throw new Error(push.stderr);

  const follower = spawn(process.execPath, [join(repoRoot, 'cli/bin/nap.js'), 'logs', 'log-demo', '--follow'], { env: { ...process.env, ...env } });
  const seenAt = new Map<string, number>();
  let buffered = '';
  follower.stdout.on('data', (d: Buffer) => {
    const now = performance.now();
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const l of lines) {
      const m = / (latency-\d+)$/.exec(l);
      if (m) seenAt.set(m[1], now);
    }
  });
  await new Promise((r) => setTimeout(r, 1500));

  const latencies: number[] = [];
  for (let i = 0; i < LINES; i++) {
    const marker = `latency-${i}`;
    const sent = performance.now();
    await get(`/say?text=${marker}`);
    const deadline = Date.now() + 5000;
    while (!seenAt.has(marker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    if (!seenAt.has(marker)) throw new Error(`${marker} never reached nap logs --follow`);
    latencies.push(seenAt.get(marker)! - sent);
  }
  follower.kill('SIGINT');
  const median = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(`line latency to nap logs --follow: median ${median.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`);

  // A log drain: a syslog listener of ours on loopback (an admin's drain may go there), the same
  // markers through the app, timed from the request to the frame's arrival.
  const drainSeen = new Map<string, number>();
  const drainPort = await freePort();
  const collector = createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      const now = performance.now();
      buffered = Buffer.concat([buffered, d]);
      // RFC 6587 octet counting: "<length> <message>", one after another.
      for (let space = buffered.indexOf(0x20); space > 0; space = buffered.indexOf(0x20)) {
        const end = space + 1 + Number(buffered.subarray(0, space).toString());
        if (buffered.length < end) break;
        const marker = / (drain-\d+|drain-warmup)$/.exec(buffered.subarray(space + 1, end).toString())?.[1];
        if (marker) drainSeen.set(marker, now);
        buffered = buffered.subarray(end);
      }
    });
  });
  await new Promise<void>((r) => collector.listen(drainPort, '127.0.0.1', r));
  const added = await nap(['add-drain', 'log-demo', `syslog://127.0.0.1:${drainPort}`], env);
  if (added.code !== 0) throw new Error(added.stderr);
  for (let tries = 0; tries < 100 && !drainSeen.has('drain-warmup'); tries++) {
    await get('/say?text=drain-warmup');
    await new Promise((r) => setTimeout(r, 200));
  }
  const drainLatencies: number[] = [];
  for (let i = 0; i < LINES; i++) {
    const marker = `drain-${i}`;
    const sent = performance.now();
    await get(`/say?text=${marker}`);
    const deadline = Date.now() + 5000;
    while (!drainSeen.has(marker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    if (!drainSeen.has(marker)) throw new Error(`${marker} never reached the drain`);
    drainLatencies.push(drainSeen.get(marker)! - sent);
  }
  await nap(['remove-drain', 'log-demo', `syslog://127.0.0.1:${drainPort}`], env);
  collector.close();
  const drainMedian = percentile(drainLatencies, 50);
  const drainP99 = percentile(drainLatencies, 99);
  console.log(`line latency to a syslog drain: median ${drainMedian.toFixed(1)} ms, p99 ${drainP99.toFixed(1)} ms`);

  await get(`/flood?lines=${FLOOD_LINES}`);
  const auth = { Authorization: `Bearer ${platform.adminToken}` };
  let size = -1;
  for (;;) {
    // Wait for the whole flood to be in the file: its size stops growing.
    await new Promise((r) => setTimeout(r, 500));
    const url = (await httpGet(`${platform.controllerUrl}/v1/apps/log-demo/logs?instance=0&file=stdout`, auth)).headers.location as string;
    const head = await fetch(url, { method: 'HEAD' });
    const now = Number(head.headers.get('content-length'));
    if (now === size) break;
    size = now;
  }
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const url = (await httpGet(`${platform.controllerUrl}/v1/apps/log-demo/logs?instance=0&file=stdout`, auth)).headers.location as string;
    const started = performance.now();
    const body = await (await fetch(url)).arrayBuffer();
    runs.push(body.byteLength / 1024 / 1024 / ((performance.now() - started) / 1000));
  }
  const mbps = percentile(runs, 50);
  console.log(`download of a ${(size / 1024 / 1024).toFixed(1)} MB log through the directory server: ${mbps.toFixed(0)} MB/s (median of 5)`);

  const table = [
    '# bench/logs',
    '',
    `${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. One instance of examples/log-demo on a whole single-node nap.`,
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| line printed → shown by \`nap logs --follow\`, median of ${LINES} | ${median.toFixed(1)} ms | |`,
    `| same, p99 | ${p99.toFixed(1)} ms | < 250 ms |`,
    `| line printed → received by a syslog drain (TCP, loopback), median of ${LINES} | ${drainMedian.toFixed(1)} ms | |`,
    `| same, p99 | ${drainP99.toFixed(1)} ms | ≤ 250 ms |`,
    `| download of a ${(size / 1024 / 1024).toFixed(1)} MB stdout.log through the directory server | ${mbps.toFixed(0)} MB/s | |`,
    '',
  ].join('\n');
  await writeFile(join(repoRoot, 'bench/results/logs.md'), table);
  console.log(`\n${table}`);
} finally {
  await platform.stop();
}
