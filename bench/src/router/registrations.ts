// Forked by bench/router (with IPC, settings in the environment): a router started in-process
// with startRouter, so the bench can watch its table fill. Protocol on the IPC channel:
//   → {ready}                      once the router listens and has subscribed
//   ← {go}                         the bench is about to publish registrationHost(0 … N-1), in order
//   → {done, missing, …Delta}      when the last of them is in the table (then every one is checked)
// N is argv[2].
import { createLogger, loadSettings } from '@nap/common';
import { startRouter } from '@nap/router';
import { registrationHost } from './hosts.js';

const send = (m: object) => process.send?.(m);
const gc = (globalThis as { gc?: () => void }).gc;

const settings = loadSettings(process.env);
const log = createLogger('bench-router', 'warn');
const hosts = Array.from({ length: Number(process.argv[2]) }, (_, i) => registrationHost(i));
gc?.();
const before = process.memoryUsage();
const router = await startRouter(settings, log, { listenHost: '127.0.0.1', statusListenHost: '127.0.0.1', claims: false });
const stop = () => void router.close().finally(() => process.exit(0));
process.on('disconnect', stop);
process.on('SIGTERM', stop);

process.once('message', () => {
  const last = hosts[hosts.length - 1];
  const deadline = Date.now() + 120_000;
  // One publisher on one subject: NATS keeps the order, so the last host in means all are in.
  const poll = () => {
    if (router.table.lookup(last) !== undefined) {
      const missing = hosts.filter((h) => router.table.lookup(h) === undefined).length;
      gc?.();
      const now = process.memoryUsage();
      send({ done: true, missing, rssDelta: now.rss - before.rss, heapUsedDelta: now.heapUsed - before.heapUsed });
    } else if (Date.now() > deadline) {
      const missing = hosts.filter((h) => router.table.lookup(h) === undefined).length;
      send({ done: false, missing });
    } else {
      setTimeout(poll, 1);
    }
  };
  poll();
});
send({ ready: true });
