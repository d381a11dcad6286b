import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { msg } from '@nap/common';
import { AppTraffic } from '../src/stats/app-traffic.js';

const bounds = [1, 5, 10, 50, 100];
function report(router: string, at: number, requests: number, slow = 0, startedAt = 0): msg.RouterAppStats {
  return {
    router,
    at,
    started_at: startedAt,
    latency_bounds_ms: bounds,
    apps: { shop: { requests, responses: { '2xx': requests - 1, '5xx': 1 }, bytes_in: requests * 100, bytes_out: requests * 1000, latency_counts: [0, requests - slow, 0, 0, slow, 0] } },
  };
}

test("the last minute is the newest report less the one a minute before it, summed over routers", () => {
  const t = new AppTraffic();
  const now = 1_000_000;
  t.report(report('r1', now - 70_000, 100), now);
  t.report(report('r1', now - 60_000, 110), now);
  t.report(report('r1', now - 1_000, 150, 2), now);
  t.report(report('r2', now - 65_000, 10), now);
  t.report(report('r2', now - 2_000, 30), now);
  const v = t.ofApp('shop', now);
  assert.equal(v.requests, 40 + 20);
  assert.equal(v.routers, 2);
  assert.equal(v.window_s, 60);
  assert.equal(v.bytes_out, 60_000);
  assert.equal(v.latency_ms.p50, 5);
  assert.equal(t.ofApp('other', now).requests, 0);
});

test('a router that restarted counts from zero; a silent one counts no more', () => {
  const t = new AppTraffic();
  const now = 1_000_000;
  t.report(report('r1', now - 50_000, 500, 0, 1), now);
  t.report(report('r1', now - 5_000, 7, 0, now - 20_000), now);
  assert.equal(t.ofApp('shop', now).requests, 7, 'since its restart');
  t.report(report('r2', now - 45_000, 9), now);
  assert.equal(t.ofApp('shop', now).routers, 1, 'r2 said nothing for 45 s');
});

test("an app's first traffic is measured against the router's report before it, which had no such app", () => {
  const t = new AppTraffic();
  const now = 1_000_000;
  t.report({ ...report('r1', now - 20_000, 0), apps: {} }, now);
  t.report(report('r1', now - 10_000, 3), now);
  assert.equal(t.ofApp('shop', now).requests, 3);
});
