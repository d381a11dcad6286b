import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionSetCookie, stickyInstanceId, vcapIdCookie } from '../src/balancing/sticky.js';
import { Histogram, quantileMs, RouterMetrics, sumSnapshots } from '../src/status/metrics.js';

test('__VCAP_ID__ is read from a Cookie header only as a cookie of its own', () => {
  assert.equal(stickyInstanceId(undefined), undefined);
  assert.equal(stickyInstanceId('__VCAP_ID__=abc'), 'abc');
  assert.equal(stickyInstanceId('JSESSIONID=1; __VCAP_ID__=abc; theme=dark'), 'abc');
  assert.equal(stickyInstanceId('JSESSIONID=1;__VCAP_ID__=abc'), 'abc');
  assert.equal(stickyInstanceId('X__VCAP_ID__=abc'), undefined);
  assert.equal(stickyInstanceId('__VCAP_ID__='), undefined);
});

test("__VCAP_ID__ copies the session cookie's scope and lifetime and is always HttpOnly", () => {
  assert.equal(
    vcapIdCookie('i-1', 'JSESSIONID=x; Path=/app; Domain=example.com; Max-Age=60; Secure; SameSite=Lax; Comment=no'),
    '__VCAP_ID__=i-1; Path=/app; Domain=example.com; Max-Age=60; Secure; SameSite=Lax; HttpOnly',
  );
  assert.equal(vcapIdCookie('i-1', 'JSESSIONID=x'), '__VCAP_ID__=i-1; Path=/; HttpOnly');
  assert.equal(vcapIdCookie('i-1'), '__VCAP_ID__=i-1; Path=/; HttpOnly');
  assert.equal(sessionSetCookie(['a=1', ' JSESSIONID=2; Path=/']), ' JSESSIONID=2; Path=/');
  assert.equal(sessionSetCookie(['MYJSESSIONID=2']), undefined);
});

test('latency histograms place samples in their bucket and add up across processes', () => {
  const h = new Histogram();
  for (const ms of [0.01, 0.04, 0.06, 0.3, 7, 90_000]) h.observe(ms);
  assert.equal(h.count, 6);
  assert.equal(quantileMs(h.snapshot(), 0.5), 0.075);
  assert.equal(quantileMs(h.snapshot(), 1), Infinity);
  const a = new RouterMetrics();
  const b = new RouterMetrics();
  a.record(200, 10, 20, 1.5, 1.0);
  b.record(503, 5, 5, 0.05, 0);
  b.record(302, 1, 1, 2, 1.9);
  const sum = sumSnapshots([a.snapshot(), b.snapshot()]);
  assert.equal(sum.requests, 3);
  assert.deepEqual(sum.responses, { '1xx': 0, '2xx': 1, '3xx': 1, '4xx': 0, '5xx': 1, other: 0 });
  assert.equal(sum.bytes_in, 16);
  assert.equal(sum.latency.app.count, 2);
  assert.equal(sum.latency.router.count, 3);
});
