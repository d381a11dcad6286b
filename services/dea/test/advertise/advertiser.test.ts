import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { msg } from '@nap/common';
import { Advertiser } from '../../src/advertise/advertiser.js';

function setup(unavailable: () => string | null) {
  const sent: msg.DeaAdvertise[] = [];
  const lines: string[] = [];
  const bus = { publish: (_channel: unknown, body: msg.DeaAdvertise) => sent.push(body), subscribe: () => {} };
  const registry = { reservedMemoryMb: () => 512, reservedDiskMb: () => 1024, countsByApp: () => ({ app: 1 }) };
  const log = { warn: (_f: unknown, m: string) => lines.push(`warn ${m}`), info: (m: string) => lines.push(`info ${m}`) };
  const advertiser = new Advertiser(bus as never, registry as never, {
    deaId: 'dea-1',
    host: '127.0.0.1',
    zone: 'z',
    stacks: ['bookworm'],
    memoryMb: 4096,
    diskMb: 8192,
    directoryUrl: 'http://127.0.0.1:1',
    unavailable,
    log: log as never,
  });
  return { advertiser, sent, lines };
}

test('a DEA that cannot take work advertises no room and why, logs it once, and takes work again when it can', () => {
  let why: string | null = null;
  const { advertiser, sent, lines } = setup(() => why);
  advertiser.advertise();
  assert.deepEqual([sent[0].available_memory_mb, sent[0].available_disk_mb, sent[0].unavailable], [3584, 7168, undefined]);
  why = 'disk nearly full: 100 MB free, under the 4096 MB reserve';
  advertiser.advertise();
  why = 'disk nearly full: 90 MB free, under the 4096 MB reserve';
  advertiser.advertise();
  assert.deepEqual([sent[2].available_memory_mb, sent[2].available_disk_mb, sent[2].unavailable], [0, 0, why]);
  why = null;
  advertiser.advertise();
  assert.equal(sent[3].available_memory_mb, 3584);
  assert.deepEqual(lines, ['warn advertising no room', 'info advertising room again'], 'one line each way, not one per advertisement');
});

test('a draining DEA advertises no room, "shutting down"', () => {
  const { advertiser, sent } = setup(() => null);
  advertiser.drain();
  assert.deepEqual([sent[0].available_memory_mb, sent[0].available_disk_mb, sent[0].unavailable], [0, 0, 'shutting down']);
});
