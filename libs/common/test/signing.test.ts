import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { signedUrl, verifySignature, resourceBase, type DirectoryResource } from '../src/signing.js';

const secret = 'a-directory-secret-of-some-length';
const dirUrl = 'http://10.1.2.3:9024';
const instance: DirectoryResource = { kind: 'instance', instanceId: 'inst-42' };
const NOW = 1_700_000_000_000; // a whole second, so signing and checking floor the same way

/** The raw (still percent-encoded) query values, as the directory server reads them from the request line. */
function rawQuery(url: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of url.slice(url.indexOf('?') + 1).split('&')) {
    const eq = pair.indexOf('=');
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

const check = (url: string, now = NOW, base = '/instance_paths/inst-42', s = secret) => verifySignature(s, base, rawQuery(url), now);

describe('signedUrl (CONTRACT §7)', () => {
  test('has the documented shape and an HMAC-SHA256 of the exact signed string', () => {
    const url = signedUrl(secret, dirUrl, instance, 'logs/stdout.log', { now: NOW + 999 });
    const ts = String(NOW / 1000);
    const hmac = createHmac('sha256', secret).update(`/instance_paths/inst-42?path=${encodeURIComponent('logs/stdout.log')}&timestamp=${ts}`).digest('hex');
    assert.equal(url, `${dirUrl}/instance_paths/inst-42?path=logs%2Fstdout.log&timestamp=${ts}&hmac=${hmac}`);
  });

  test('a trailing slash on the directory url is not doubled', () => {
    const url = signedUrl(secret, `${dirUrl}//`, instance, 'a', { now: NOW });
    assert.ok(url.startsWith(`${dirUrl}/instance_paths/inst-42?`), url);
  });

  test('a staging task uses /staging_tasks/{id}', () => {
    const url = signedUrl(secret, dirUrl, { kind: 'staging', taskId: 'task-7' }, 'staging.log', { now: NOW });
    assert.ok(url.startsWith(`${dirUrl}/staging_tasks/task-7?path=staging.log&timestamp=`), url);
    assert.equal(resourceBase({ kind: 'staging', taskId: 'task-7' }), '/staging_tasks/task-7');
    const q = rawQuery(url);
    const expected = createHmac('sha256', secret).update(`/staging_tasks/task-7?path=staging.log&timestamp=${q.timestamp}`).digest('hex');
    assert.equal(q.hmac, expected);
    assert.equal(check(url, NOW, '/staging_tasks/task-7'), 'ok');
    assert.equal(check(url, NOW, '/instance_paths/task-7'), 'bad_signature', 'a staging signature is not valid for an instance');
  });

  test('&tail=true is appended only when asked, after the signed part', () => {
    const plain = signedUrl(secret, dirUrl, instance, 'logs/stdout.log', { now: NOW });
    const tail = signedUrl(secret, dirUrl, instance, 'logs/stdout.log', { now: NOW, tail: true });
    assert.ok(!plain.includes('tail'));
    assert.equal(tail, `${plain}&tail=true`);
    assert.equal(rawQuery(tail).tail, 'true');
    assert.equal(check(tail), 'ok');
  });

  for (const path of ['logs/my file.log', 'a/b/c/d.txt', 'ünïcødé/日本語 ファイル.txt', "odd !'()*~&=?#%+;.txt", '']) {
    test(`path ${JSON.stringify(path)} round-trips and verifies`, () => {
      const url = signedUrl(secret, dirUrl, instance, path, { now: NOW });
      assert.doesNotMatch(url.slice(url.indexOf('?')), /[ \u0080-\uffff]/, 'nothing unencoded in the query');
      const q = rawQuery(url);
      assert.equal(decodeURIComponent(q.path), path);
      assert.equal(new URL(url).searchParams.get('path'), path);
      assert.equal(check(url), 'ok');
    });
  }
});

describe('verifySignature', () => {
  const url = signedUrl(secret, dirUrl, instance, 'app/server.js', { now: NOW });
  const q = rawQuery(url);

  test('a fresh URL is ok', () => {
    assert.equal(verifySignature(secret, '/instance_paths/inst-42', q, NOW), 'ok');
  });

  test('a tampered hmac is bad_signature', () => {
    const flipped = (q.hmac[0] === '0' ? '1' : '0') + q.hmac.slice(1);
    assert.equal(verifySignature(secret, '/instance_paths/inst-42', { ...q, hmac: flipped }, NOW), 'bad_signature');
    assert.equal(verifySignature(secret, '/instance_paths/inst-42', { ...q, hmac: q.hmac.slice(2) }, NOW), 'bad_signature');
    assert.equal(verifySignature(secret, '/instance_paths/inst-42', { ...q, hmac: 'zz' + q.hmac.slice(2) }, NOW), 'bad_signature');
    assert.equal(verifySignature(secret, '/instance_paths/inst-42', { ...q, hmac: '' }, NOW), 'bad_signature');
  });

  test('a tampered path is bad_signature', () => {
    assert.equal(verifySignature(secret, '/instance_paths/inst-42', { ...q, path: encodeURIComponent('app/../../etc/passwd') }, NOW), 'bad_signature');
    // The same path, encoded differently, is a different signed string.
    assert.equal(verifySignature(secret, '/instance_paths/inst-42', { ...q, path: 'app/server.js' }, NOW), 'bad_signature');
  });

  test('a tampered timestamp is bad_signature, even one that would still be fresh', () => {
    assert.equal(verifySignature(secret, '/instance_paths/inst-42', { ...q, timestamp: String(Number(q.timestamp) + 1) }, NOW), 'bad_signature');
    assert.equal(verifySignature(secret, '/instance_paths/inst-42', { ...q, timestamp: `${q.timestamp}.0` }, NOW), 'bad_signature');
  });

  test('another instance or another secret is bad_signature', () => {
    assert.equal(verifySignature(secret, '/instance_paths/inst-43', q, NOW), 'bad_signature');
    assert.equal(verifySignature(`${secret}x`, '/instance_paths/inst-42', q, NOW), 'bad_signature');
  });

  test('age limits: 300 s old and 30 s ahead are the last accepted', () => {
    const signedAt = (offsetS: number) => signedUrl(secret, dirUrl, instance, 'app/server.js', { now: NOW + offsetS * 1000 });
    assert.equal(check(signedAt(-299)), 'ok');
    assert.equal(check(signedAt(-300)), 'ok');
    assert.equal(check(signedAt(-301)), 'expired');
    assert.equal(check(signedAt(-3600)), 'expired');
    assert.equal(check(signedAt(29)), 'ok');
    assert.equal(check(signedAt(30)), 'ok');
    assert.equal(check(signedAt(31)), 'from_the_future');
    assert.equal(check(signedAt(3600)), 'from_the_future');
  });

  test('an expired URL with a bad signature is bad_signature, not expired', () => {
    const old = rawQuery(signedUrl(secret, dirUrl, instance, 'a', { now: NOW - 1_000_000 }));
    assert.equal(verifySignature('wrong-secret-wrong-secret', '/instance_paths/inst-42', old, NOW), 'bad_signature');
  });

  for (const field of ['path', 'timestamp', 'hmac'] as const) {
    test(`missing ${field} is missing`, () => {
      const partial: Record<string, string> = { ...q };
      delete partial[field];
      assert.equal(verifySignature(secret, '/instance_paths/inst-42', partial, NOW), 'missing');
    });
  }
});
