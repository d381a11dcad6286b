import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { Firewall, type FirewallPlan } from '../../src/network/firewall.js';

// Real nft, on a table of this run's own name; no packet is sent.
const table = `nap-fwtest-${randomBytes(4).toString('hex')}`;
const plan: FirewallPlan = { table, bridge: 'nap-fwtest', subnet: '10.214.254.0/24', nameservers: ['10.255.255.53'], hostNetworks: ['192.0.2.0/24'] };
const nft = (args: string[]) => new Promise<{ ok: boolean; out: string }>((resolve) => execFile('nft', args, (err, out) => resolve({ ok: !err, out })));

after(async () => {
  await nft(['delete', 'table', 'inet', table]);
});

test("applying nap's rules twice leaves one copy of each and keeps the port map", async () => {
  const fw = new Firewall(table);
  await fw.apply(plan);
  await fw.map({ hostPort: 61001, address: '10.214.254.2', port: 8080 });
  await fw.apply(plan);
  const { out } = await nft(['list', 'table', 'inet', table]);
  assert.equal(out.match(/ip daddr 169\.254\.0\.0\/16 drop/g)?.length, 1, out);
  assert.equal(out.match(/iifname "nap-fwtest" drop/g)?.length, 1, out);
  assert.deepEqual(await fw.mappings(), [{ hostPort: 61001, address: '10.214.254.2', port: 8080 }]);
});

test('a host port maps to one instance: mapping it again replaces it, unmapping removes it, twice is harmless', async () => {
  const fw = new Firewall(table);
  await fw.map({ hostPort: 61002, address: '10.214.254.3', port: 8080 });
  await fw.map({ hostPort: 61002, address: '10.214.254.4', port: 8080 });
  assert.deepEqual((await fw.mappings()).find((m) => m.hostPort === 61002), { hostPort: 61002, address: '10.214.254.4', port: 8080 });
  await fw.unmap(61002);
  await fw.unmap(61002);
  assert.equal((await fw.mappings()).find((m) => m.hostPort === 61002), undefined);
});
