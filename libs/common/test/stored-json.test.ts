import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { parseStored } from '../src/index.js';

test('a stored record is read through its schema; absent, not JSON or another shape is null, never a throw', () => {
  const Schema = z.object({ app_id: z.string(), https_only: z.boolean() });
  assert.deepEqual(parseStored(Schema, '{"app_id":"a","https_only":true}'), { app_id: 'a', https_only: true });
  for (const raw of [null, undefined, '', '{not json', '[]', '{"app_id":1,"https_only":true}']) assert.equal(parseStored(Schema, raw), null, String(raw));
});
