import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSettings, NapError } from '@nap/common';
import { checkClaim, isIpLike, platformHosts, type RouteRules } from '../../src/routes/route-policy.js';
import type { DomainRecord } from '../../src/store/domains-repository.js';

const domain = (name: string, owners: string[]): DomainRecord => ({ name, owners, created_at: '', created_by: 'admin' });
const rules: RouteRules = {
  sharedDomain: 'nap.localhost',
  reserved: platformHosts(loadSettings({ NAP_CONTROLLER_URL: 'https://ctl.example.org', NAP_ROUTER_URL: 'http://127.0.0.1:8080' })),
  domains: [domain('team.nap.localhost', ['ann']), domain('corp.test', ['bob']), domain('eu.corp.test', ['ann'])],
};
const ann = { name: 'ann', role: 'developer' as const };
const bob = { name: 'bob', role: 'developer' as const };
const admin = { name: 'admin', role: 'admin' as const };

function refusal(fn: () => unknown): [number, string] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof NapError);
    return [err.status, err.code];
  }
  assert.fail('expected a refusal');
}

test('the platform hosts: the shared domain, its reserved labels, the URLs that are names', () => {
  for (const h of ['nap.localhost', 'api.nap.localhost', 'router.nap.localhost', 'ctl.example.org']) assert.ok(rules.reserved.has(h), h);
  assert.ok(!rules.reserved.has('127.0.0.1'));
  assert.deepEqual(refusal(() => checkClaim(admin, 'ctl.example.org', rules)), [403, 'route_reserved']);
});

test('IP addresses in every spelling a URL parser reads as one', () => {
  for (const h of ['127.0.0.1', '127.1', '2130706433', '0x7f.0.0.1', 'a.b.0x10', '[::1]']) assert.ok(isIpLike(h), h);
  for (const h of ['app.nap.localhost', '1.example.com', 'x0.test']) assert.ok(!isIpLike(h), h);
});

test('a host lies in the longest private domain: a subdomain given to someone else is theirs', () => {
  assert.equal(checkClaim(ann, 'x.eu.corp.test', rules)?.name, 'eu.corp.test');
  assert.deepEqual(refusal(() => checkClaim(bob, 'x.eu.corp.test', rules)), [403, 'route_forbidden']);
  // bob owns corp.test, but his wildcard there would catch the unclaimed hosts of ann's eu.corp.test.
  assert.deepEqual(refusal(() => checkClaim(bob, '*.corp.test', rules)), [403, 'route_forbidden']);
  assert.equal(checkClaim(bob, 'www.corp.test', rules)?.name, 'corp.test');
  assert.equal(checkClaim(bob, '*.us.corp.test', rules)?.name, 'corp.test');
  assert.equal(checkClaim(admin, '*.corp.test', rules)?.name, 'corp.test');
  // A private domain inside the shared one: its owner may take wildcards there, others not even one label.
  assert.equal(checkClaim(ann, '*.team.nap.localhost', rules)?.name, 'team.nap.localhost');
  assert.deepEqual(refusal(() => checkClaim(bob, 'team.nap.localhost', rules)), [403, 'route_forbidden']);
});

test("a developer's wildcard may not cover the shared domain", () => {
  const parent: RouteRules = { ...rules, sharedDomain: 'apps.example.test', domains: [domain('example.test', ['bob'])] };
  assert.deepEqual(refusal(() => checkClaim(bob, '*.example.test', parent)), [403, 'route_forbidden']);
  assert.equal(checkClaim(bob, 'x.example.test', parent)?.name, 'example.test');
  assert.equal(checkClaim(bob, 'x.apps.example.test', parent), undefined);
});

test('the shared domain: one free label for developers, anything valid for admins', () => {
  assert.equal(checkClaim(bob, 'mine.nap.localhost', rules), undefined);
  assert.deepEqual(refusal(() => checkClaim(bob, 'a.b.nap.localhost', rules)), [403, 'route_forbidden']);
  assert.deepEqual(refusal(() => checkClaim(bob, '*.nap.localhost', rules)), [403, 'route_forbidden']);
  assert.equal(checkClaim(admin, '*.nap.localhost', rules), undefined);
  assert.equal(checkClaim(admin, 'anything.elsewhere.test', rules), undefined);
  assert.deepEqual(refusal(() => checkClaim(admin, '*.test', rules)), [400, 'invalid_route']);
});
