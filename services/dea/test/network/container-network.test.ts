import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCidr } from '@nap/common';
import { subnetConflict } from '../../src/network/container-network.js';
import { renderRuleset } from '../../src/network/firewall.js';
import { parseNameservers, parseProcRoutes } from '../../src/network/host-facts.js';

const procRoute = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

test('the host routes are read from /proc/net/route (little-endian hex)', () => {
  const routes = parseProcRoutes(procRoute);
  assert.deepEqual(routes.map((r) => [r.iface, r.cidr.prefix, r.direct]), [['eth0', 0, false], ['eth0', 24, true]]);
  assert.equal(routes[1].cidr.base, parseCidr('192.0.2.0/24')!.base);
});

test('a container subnet that overlaps a host route or holds a name server is refused, saying which', () => {
  const routes = parseProcRoutes(procRoute);
  assert.equal(subnetConflict(parseCidr('10.213.0.0/20')!, routes, ['10.255.255.53'], 'nap-x'), null);
  assert.match(subnetConflict(parseCidr('192.0.0.0/16')!, routes, [], 'nap-x')!, /overlaps the route to 192\.0\.2\.0\/24 on eth0/);
  assert.match(subnetConflict(parseCidr('10.255.0.0/16')!, routes, ['10.255.255.53'], 'nap-x')!, /name server 10\.255\.255\.53/);
});

test('name servers come from resolv.conf, IPv4 only', () => {
  assert.deepEqual(parseNameservers('# x\nnameserver 10.255.255.53\nnameserver ::1\nsearch a\n'), ['10.255.255.53']);
});

test("nap's ruleset only declares, flushes and fills its own table's chains", () => {
  const script = renderRuleset({ table: 'nap-t', bridge: 'nap-t', subnet: '10.214.1.0/24', nameservers: ['10.255.255.53'], hostNetworks: ['192.0.2.0/24'] });
  for (const line of script.split('\n').filter((l) => /^(add|flush|delete)/.test(l))) {
    assert.match(line, /^(add rule|flush chain) inet nap-t /, line);
  }
  assert.doesNotMatch(script, /flush ruleset|flush table|delete/);
  assert.match(script, /ip daddr 169\.254\.0\.0\/16 drop/);
});
