import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NapError } from '@nap/common';
import { pktLine, readPushRequest } from '../../src/git/pkt-line.js';

const zero = '0'.repeat(40);
const head = 'a'.repeat(40);

test('a push request gives its ref updates and capabilities', () => {
  const body = Buffer.concat([pktLine(`${zero} ${head} refs/heads/main\0report-status side-band-64k\n`), Buffer.from('0000'), Buffer.from('PACK')]);
  const request = readPushRequest(body);
  assert.deepEqual(request.updates, [{ old: zero, new: head, ref: 'refs/heads/main' }]);
  assert.ok(request.capabilities.has('side-band-64k'));
});

test('a body that is not pkt-line data is a 400 naming what to do, not an internal error', () => {
  for (const junk of ['zzzz garbage', '0001', '0003x', 'GET / HTTP/1.1\r\n']) {
    assert.throws(
      () => readPushRequest(Buffer.from(junk)),
      (err: unknown) => err instanceof NapError && err.status === 400 && err.code === 'invalid_push',
      JSON.stringify(junk),
    );
  }
});
