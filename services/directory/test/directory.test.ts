import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, realpath, rename, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger, loadSettings, signedUrl, type DirectoryResource, type Logger } from '@nap/common';
import { followStart, InstanceSnapshot, parseSnapshot, resolveInside, startDirectoryServer, type DirectoryServer } from '../src/index.js';
import { writeRawSnapshot, writeSnapshot } from './support/snapshot.js';

const SECRET = 'directory-test-secret-0123456789';
// The server's clock is pinned, so the 300 s / 30 s limits are tested exactly, not ±1 s.
const NOW = Date.now();
const INSTANCE: DirectoryResource = { kind: 'instance', instanceId: 'abc' };
const STAGING: DirectoryResource = { kind: 'staging', taskId: 'task-1' };

let deaDir: string;
let instanceDir: string;
let stagingDir: string;
let server: DirectoryServer;
let base: string;

const url = (resource: DirectoryResource, path: string, opts: { now?: number; tail?: boolean } = {}) =>
  signedUrl(SECRET, base, resource, path, { now: NOW, ...opts });

/** Signs a raw, already encoded path value by hand (CONTRACT §7), for encodings signedUrl would never produce. */
function rawSignedUrl(resourceBase: string, encodedPath: string, secret = SECRET, at = base): string {
  const timestamp = String(Math.floor(NOW / 1000));
  const hmac = createHmac('sha256', secret).update(`${resourceBase}?path=${encodedPath}&timestamp=${timestamp}`).digest('hex');
  return `${at}${resourceBase}?path=${encodedPath}&timestamp=${timestamp}&hmac=${hmac}`;
}

/** Everything a refusal may not reveal: the content of files outside the instance directory. */
const LEAKS = /OUTSIDE-CONTENT|SIBLING-CONTENT|root:.*:0:0:/;

/** A refusal: the status, the error code, and nothing of what lies outside. */
async function assertRefused(res: Response, status: number, code?: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.doesNotMatch(text, LEAKS);
  if (code !== undefined) assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, code);
}

/** A logger that only records warnings, to see what was logged and how often. */
function recordingLogger(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const log = {
    warn: (_obj: unknown, msg?: string) => void warnings.push(String(msg)),
    info: () => undefined,
    error: () => undefined,
    debug: () => undefined,
    child: () => log,
  } as unknown as Logger;
  return { log, warnings };
}

async function errorCode(res: Response): Promise<string> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(typeof body.error.message, 'string');
  return body.error.code;
}

/** Reads a streaming body until `until` holds of everything received, or fails after `ms`. */
async function readUntil(res: Response, until: (text: string) => boolean, ms = 1000): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + ms;
  while (!until(text)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${ms} ms; received ${JSON.stringify(text)}`);
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      reader.read(),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), left))),
    ]);
    clearTimeout(timer);
    if (next === 'timeout') continue;
    if (next.done) throw new Error(`body ended early; received ${JSON.stringify(text)}`);
    text += decoder.decode(next.value, { stream: true });
  }
  reader.releaseLock();
  return text;
}

/** Reads what is left of a body until the server ends it, or fails after `ms`. */
async function readToEnd(res: Response, ms = 2000): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void reader.cancel();
  }, ms);
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      text += decoder.decode(next.value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) throw new Error(`the body did not end within ${ms} ms; received ${JSON.stringify(text)}`);
  return text;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

before(async () => {
  deaDir = await realpath(await mkdtemp(join(tmpdir(), 'nap-directory-')));
  instanceDir = join(deaDir, 'instances', 'abc');
  stagingDir = join(deaDir, 'staging', 'task-1');
  await mkdir(join(instanceDir, 'app', 'lib'), { recursive: true });
  await mkdir(join(instanceDir, 'logs'), { recursive: true });
  await mkdir(stagingDir, { recursive: true });
  await writeFile(join(instanceDir, 'app', 'server.js'), 'console.log("hello");\n');
  await writeFile(join(instanceDir, 'app', 'with space é.txt'), 'spaced\n');
  await writeFile(join(instanceDir, 'logs', 'stdout.log'), 'line one\n');
  await writeFile(join(instanceDir, 'logs', 'stderr.log'), '');
  await writeFile(join(instanceDir, 'logs', 'rotating.log'), 'before rotation\n');
  await writeFile(join(instanceDir, 'logs', 'truncated.log'), 'old content, long enough\n');
  // Outside the instance: a secret, a symlink to it, and a sibling whose name extends the instance ID.
  await mkdir(join(deaDir, 'outside'));
  await writeFile(join(deaDir, 'outside', 'secret.txt'), 'OUTSIDE-CONTENT\n');
  await symlink(join(deaDir, 'outside', 'secret.txt'), join(instanceDir, 'app', 'escape'));
  await symlink(join(deaDir, 'outside'), join(instanceDir, 'app', 'escape-dir'));
  await mkdir(join(deaDir, 'instances', 'abcx'));
  await writeFile(join(deaDir, 'instances', 'abcx', 'secret.txt'), 'SIBLING-CONTENT\n');
  await symlink('../../abcx/secret.txt', join(instanceDir, 'app', 'sibling'));
  await symlink('server.js', join(instanceDir, 'app', 'inner-link'));
  await symlink('/etc/passwd', join(instanceDir, 'app', 'passwd'));
  await writeFile(join(instanceDir, 'logs', 'ranged.log'), '0123456789\n');
  // The DEA's registry is the only source of which instances exist: abc is listed, abcx is not.
  await writeSnapshot(deaDir, [{ id: 'abc' }]);

  const settings = { ...loadSettings({}), deaDir, deaHost: '127.0.0.1', directoryPort: 0, directorySecret: SECRET };
  server = await startDirectoryServer(settings, createLogger('directory-test', 'silent'), { now: () => NOW, followPollMs: 100 });
  base = `http://127.0.0.1:${server.port}`;
});

after(async () => {
  await server?.close();
  if (deaDir) await rm(deaDir, { recursive: true, force: true });
});

describe('signed URLs', () => {
  it('serves a file to a correctly signed URL', async () => {
    const res = await fetch(url(INSTANCE, 'app/server.js'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'console.log("hello");\n');
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
  });

  it('checks the path as it stands in the URL, encoded', async () => {
    const res = await fetch(url(INSTANCE, 'app/with space é.txt'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'spaced\n');
    // The same path spelt differently (%61 for "a") is another signed string.
    const respelt = url(INSTANCE, 'app/server.js').replace('path=app', 'path=%61pp');
    assert.equal((await fetch(respelt)).status, 401);
  });

  it('serves a staging log', async () => {
    await writeFile(join(stagingDir, 'staging.log'), '-----> Detected Node.js\n');
    const res = await fetch(url(STAGING, 'staging.log'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '-----> Detected Node.js\n');
  });

  it('refuses a tampered hmac with 401', async () => {
    const good = url(INSTANCE, 'app/server.js');
    const hmac = /hmac=([0-9a-f]+)/.exec(good)![1];
    const flipped = (hmac[0] === '0' ? '1' : '0') + hmac.slice(1);
    const res = await fetch(good.replace(hmac, flipped));
    assert.equal(res.status, 401);
    assert.equal(await errorCode(res), 'bad_signature');
  });

  it('refuses a signature for another resource or path', async () => {
    const signed = url(INSTANCE, 'app/server.js');
    await assertRefused(await fetch(signed.replace('/instance_paths/abc', '/instance_paths/abcx')), 401, 'bad_signature');
    await assertRefused(await fetch(signed.replace('path=app%2Fserver.js', 'path=logs%2Fstdout.log')), 401, 'bad_signature');
    await assertRefused(await fetch(signed.replace('path=app%2Fserver.js', 'path=app%2Fescape')), 401, 'bad_signature');
    await assertRefused(await fetch(signed.replace('path=app%2Fserver.js', 'path=..%2Fabcx%2Fsecret.txt')), 401, 'bad_signature');
  });

  it('refuses a changed timestamp with 401, even a newer one', async () => {
    const signed = url(INSTANCE, 'app/server.js', { now: NOW - 10_000 });
    const ts = Number(/timestamp=(\d+)/.exec(signed)![1]);
    for (const changed of [ts + 1, ts - 1, ts + 5]) {
      await assertRefused(await fetch(signed.replace(`timestamp=${ts}`, `timestamp=${changed}`)), 401, 'bad_signature');
    }
    await assertRefused(await fetch(signed.replace(`timestamp=${ts}`, `timestamp=0${ts}`)), 401, 'bad_signature');
  });

  it('refuses a URL signed with another secret with 401', async () => {
    const other = signedUrl('another-secret-0123456789abcdef', base, INSTANCE, 'app/server.js', { now: NOW });
    await assertRefused(await fetch(other), 401, 'bad_signature');
    await assertRefused(await fetch(rawSignedUrl('/instance_paths/abc', 'app%2Fescape', 'another-secret')), 401, 'bad_signature');
    await assertRefused(await fetch(signedUrl('', base, INSTANCE, 'app/server.js', { now: NOW })), 401, 'bad_signature');
  });

  it('refuses a URL without a signature with 401', async () => {
    const res = await fetch(`${base}/instance_paths/abc?path=app%2Fserver.js`);
    assert.equal(res.status, 401);
    assert.equal(await errorCode(res), 'missing');
  });

  it('refuses a URL signed 301 s ago with 401, and accepts one signed 299 s ago', async () => {
    const old = await fetch(url(INSTANCE, 'app/server.js', { now: NOW - 301_000 }));
    assert.equal(old.status, 401);
    assert.equal(await errorCode(old), 'expired');
    const recent = await fetch(url(INSTANCE, 'app/server.js', { now: NOW - 299_000 }));
    assert.equal(recent.status, 200);
    await recent.arrayBuffer();
  });

  it('refuses a URL dated 31 s in the future with 401, and accepts 29 s', async () => {
    const future = await fetch(url(INSTANCE, 'app/server.js', { now: NOW + 31_000 }));
    assert.equal(future.status, 401);
    assert.equal(await errorCode(future), 'from_the_future');
    const skewed = await fetch(url(INSTANCE, 'app/server.js', { now: NOW + 29_000 }));
    assert.equal(skewed.status, 200);
    await skewed.arrayBuffer();
  });

  it('answers 404 for an ID that cannot exist, and for an unknown instance', async () => {
    assert.equal((await fetch(`${base}/instance_paths/a.b?path=x&timestamp=1&hmac=00`)).status, 404);
    assert.equal((await fetch(`${base}/instance_paths/${'a'.repeat(65)}?path=x&timestamp=1&hmac=00`)).status, 404);
    const unknown = await fetch(url({ kind: 'instance', instanceId: 'nope' }, 'app/server.js'));
    assert.equal(unknown.status, 404);
    assert.equal(await errorCode(unknown), 'unknown_instance');
  });

  it('answers 404 for an instance the DEA snapshot does not list, even though its directory exists', async () => {
    assert.ok(existsSync(join(deaDir, 'instances', 'abcx', 'secret.txt')));
    const sibling: DirectoryResource = { kind: 'instance', instanceId: 'abcx' };
    await assertRefused(await fetch(url(sibling, 'secret.txt')), 404, 'unknown_instance');
    await assertRefused(await fetch(url(sibling, '')), 404, 'unknown_instance');
    await assertRefused(await fetch(url(sibling, 'secret.txt', { tail: true })), 404, 'unknown_instance');
  });

  it('answers 401, not 404, for an unknown instance with a bad signature (nothing is revealed before the check)', async () => {
    const forged = url({ kind: 'instance', instanceId: 'nope' }, 'x').replace(/hmac=[0-9a-f]+/, `hmac=${'0'.repeat(64)}`);
    await assertRefused(await fetch(forged), 401, 'bad_signature');
  });
});

describe('confinement to the resource directory', () => {
  const refused: Array<[string, () => string]> = [
    ['../ escape', () => url(INSTANCE, '../abcx/secret.txt')],
    ['deep ../ escape', () => url(INSTANCE, 'app/../../../outside/secret.txt')],
    ['%2e%2e/ escape', () => rawSignedUrl('/instance_paths/abc', '%2e%2e/%2e%2e/outside/secret.txt')],
    ['%2e%2e%2f escape', () => rawSignedUrl('/instance_paths/abc', '%2e%2e%2f%2e%2e%2foutside%2fsecret.txt')],
    ['%2E%2E%2F escape (upper case)', () => rawSignedUrl('/instance_paths/abc', 'app%2F%2E%2E%2F%2E%2E%2Fabcx%2Fsecret.txt')],
    ['absolute path', () => url(INSTANCE, '/etc/passwd')],
    ['absolute path into the DEA directory', () => url(INSTANCE, '/../../outside/secret.txt')],
    ['encoded absolute path', () => rawSignedUrl('/instance_paths/abc', '%2Fetc%2Fpasswd')],
    ['NUL byte', () => url(INSTANCE, 'app/server.js\0.txt')],
    ['encoded NUL byte before an escape', () => rawSignedUrl('/instance_paths/abc', '..%2Foutside%2Fsecret.txt%00')],
    ['symlink to /etc/passwd', () => url(INSTANCE, 'app/passwd')],
    ['symlink to a file outside', () => url(INSTANCE, 'app/escape')],
    ['symlink to a directory outside', () => url(INSTANCE, 'app/escape-dir/secret.txt')],
    ['symlink into a sibling sharing the prefix', () => url(INSTANCE, 'app/sibling')],
    ['.. into a sibling directory whose name starts with the instance directory name', () => url(INSTANCE, '../abcx/secret.txt')],
    ['listing a sibling directory whose name starts with the instance directory name', () => url(INSTANCE, '../abcx')],
    ['staging ../ escape', () => url(STAGING, '../../instances/abc/app/server.js')],
  ];
  for (const [name, make] of refused) {
    it(`refuses ${name} with 403`, async () => {
      await assertRefused(await fetch(make()), 403, 'forbidden');
    });
  }

  it('refuses the same tricks when following (tail=true)', async () => {
    for (const path of ['app/passwd', '../abcx/secret.txt', '/etc/passwd', 'app/escape-dir/secret.txt']) {
      await assertRefused(await fetch(url(INSTANCE, path, { tail: true })), 403, 'forbidden');
    }
  });

  it('confines by the real path with a trailing separator: a sibling sharing the prefix is outside', async () => {
    const sibling = await resolveInside(instanceDir, '../abcx/secret.txt');
    assert.equal(sibling.outcome, 'outside');
    const viaLink = await resolveInside(instanceDir, 'app/sibling');
    assert.deepEqual(viaLink, { outcome: 'outside', reason: 'symlink leads outside the directory' });
  });

  it('follows a symlink that stays inside', async () => {
    const res = await fetch(url(INSTANCE, 'app/inner-link'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'console.log("hello");\n');
  });

  it('answers 404 for a missing file', async () => {
    const res = await fetch(url(INSTANCE, 'app/missing.js'));
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'path_not_found');
  });
});

describe('files and directories', () => {
  it('answers a Range request with 206 and the slice', async () => {
    const res = await fetch(url(INSTANCE, 'app/server.js'), { headers: { Range: 'bytes=8-10' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 8-10/22');
    assert.equal(await res.text(), 'log');
    const suffix = await fetch(url(INSTANCE, 'app/server.js'), { headers: { Range: 'bytes=-3' } });
    assert.equal(suffix.status, 206);
    assert.equal(await suffix.text(), ');\n');
  });

  it('answers an unsatisfiable Range with 416', async () => {
    const res = await fetch(url(INSTANCE, 'app/server.js'), { headers: { Range: 'bytes=100-200' } });
    assert.equal(res.status, 416);
    assert.equal(res.headers.get('content-range'), 'bytes */22');
    await res.arrayBuffer();
  });

  it('lists a directory as name<TAB>size lines, directories with a trailing /', async () => {
    const res = await fetch(url(INSTANCE, 'app'));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const lines = (await res.text()).trimEnd().split('\n');
    assert.ok(lines.includes('server.js\t22'), lines.join('|'));
    assert.ok(lines.includes('with space é.txt\t7'), lines.join('|'));
    assert.ok(lines.some((line) => /^lib\/\t\d+$/.test(line)), lines.join('|'));
    assert.ok(lines.some((line) => line.startsWith('escape\t')), lines.join('|'));
  });

  it('lists the resource directory itself for an empty path', async () => {
    const res = await fetch(url(INSTANCE, ''));
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^app\/\t/m);
    assert.match(text, /^logs\/\t/m);
  });
});

describe('tail=true with Range: bytes=N-', () => {
  const path = () => join(instanceDir, 'logs', 'ranged.log');

  it('sends only from byte N on, then what is appended, as a 200 stream', async () => {
    const controller = new AbortController();
    const res = await fetch(url(INSTANCE, 'logs/ranged.log', { tail: true }), { signal: controller.signal, headers: { Range: 'bytes=5-' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), null);
    assert.equal(res.headers.get('content-range'), null);
    assert.equal(await readUntil(res, (t) => t.length >= 6), '56789\n');
    await appendFile(path(), 'appended after\n');
    assert.equal(await readUntil(res, (t) => t.includes('after\n')), 'appended after\n');
    controller.abort();
  });

  it('starts at the end when N is past it', async () => {
    const controller = new AbortController();
    const res = await fetch(url(INSTANCE, 'logs/ranged.log', { tail: true }), { signal: controller.signal, headers: { Range: 'bytes=100000-' } });
    assert.equal(res.status, 200);
    await sleep(150); // a poll or two: nothing of what is already there may come
    await appendFile(path(), 'only this\n');
    assert.equal(await readUntil(res, (t) => t.includes('only this\n')), 'only this\n');
    controller.abort();
  });

  it('starts exactly at the end for N equal to the size', async () => {
    const size = Buffer.byteLength('0123456789\nappended after\nonly this\n');
    const controller = new AbortController();
    const res = await fetch(url(INSTANCE, 'logs/ranged.log', { tail: true }), { signal: controller.signal, headers: { Range: `bytes=${size}-` } });
    await sleep(150);
    await appendFile(path(), 'at the end\n');
    assert.equal(await readUntil(res, (t) => t.includes('at the end\n')), 'at the end\n');
    controller.abort();
  });

  it('without a Range header, sends everything from the beginning', async () => {
    const controller = new AbortController();
    const res = await fetch(url(INSTANCE, 'logs/ranged.log', { tail: true }), { signal: controller.signal });
    assert.equal(res.status, 200);
    const text = await readUntil(res, (t) => t.includes('at the end\n'));
    assert.equal(text, '0123456789\nappended after\nonly this\nat the end\n');
    controller.abort();
  });

  it('a Range without tail is still an ordinary 206', async () => {
    const res = await fetch(url(INSTANCE, 'logs/ranged.log'), { headers: { Range: 'bytes=5-' } });
    assert.equal(res.status, 206);
    assert.equal(await res.text(), '56789\nappended after\nonly this\nat the end\n');
  });

  it('computes where a follow starts', () => {
    assert.equal(followStart(undefined, 100), 0);
    assert.equal(followStart('bytes=5-', 100), 5);
    assert.equal(followStart('bytes=0-', 100), 0);
    assert.equal(followStart('bytes=100-', 100), 100);
    assert.equal(followStart('bytes=1000-', 100), 100);
    assert.equal(followStart('bytes=-30', 100), 70);
    assert.equal(followStart('bytes=-300', 100), 0);
    assert.equal(followStart('bytes=5-10', 100), 0); // other forms are ignored
    assert.equal(followStart('bytes=1-2,5-', 100), 0);
    assert.equal(followStart('items=5-', 100), 0);
    assert.equal(followStart('bytes=abc-', 100), 0);
  });
});

describe('tail=true', () => {
  it('sends the current content, then lines appended after the request, within a second', async () => {
    const path = join(instanceDir, 'logs', 'stdout.log');
    const controller = new AbortController();
    const res = await fetch(url(INSTANCE, 'logs/stdout.log', { tail: true }), { signal: controller.signal });
    assert.equal(res.status, 200);
    await readUntil(res, (text) => text === 'line one\n');
    await appendFile(path, 'line two\n');
    await sleep(50);
    await appendFile(path, 'line three\n');
    const text = await readUntil(res, (t) => t.includes('line three\n'));
    assert.equal(text, 'line two\nline three\n');
    assert.equal(server.followCount(), 1);
    controller.abort();
    // The disconnect releases the follow: descriptor, watcher and timer.
    const deadline = Date.now() + 1000;
    while (server.followCount() > 0 && Date.now() < deadline) await sleep(20);
    assert.equal(server.followCount(), 0);
  });

  it('keeps following across rotation, starting again at the top of the new file', async () => {
    const path = join(instanceDir, 'logs', 'rotating.log');
    const controller = new AbortController();
    const res = await fetch(url(INSTANCE, 'logs/rotating.log', { tail: true }), { signal: controller.signal });
    await readUntil(res, (text) => text.includes('before rotation\n'));
    await appendFile(path, 'last of the old file\n');
    await rename(path, `${path}.1`);
    await writeFile(path, 'first of the new file\n');
    await sleep(150);
    await appendFile(path, 'second of the new file\n');
    const text = await readUntil(res, (t) => t.includes('second of the new file\n'), 2000);
    assert.equal(text, 'last of the old file\nfirst of the new file\nsecond of the new file\n');
    controller.abort();
  });

  it('starts again from the beginning when the file is truncated', async () => {
    const path = join(instanceDir, 'logs', 'truncated.log');
    const controller = new AbortController();
    const res = await fetch(url(INSTANCE, 'logs/truncated.log', { tail: true }), { signal: controller.signal });
    await readUntil(res, (text) => text.includes('long enough\n'));
    await truncate(path, 0);
    await sleep(150);
    await appendFile(path, 'fresh\n');
    const text = await readUntil(res, (t) => t.includes('fresh\n'), 2000);
    assert.equal(text, 'fresh\n');
    controller.abort();
  });

  it('ends a staging log once `done` exists and everything is sent', async () => {
    const log = join(stagingDir, 'staging.log');
    await writeFile(log, '-----> Downloading buildpack\n');
    const res = await fetch(url(STAGING, 'staging.log', { tail: true }));
    assert.equal(res.status, 200);
    const started = Date.now();
    await readUntil(res, (text) => text.includes('Downloading'));
    await appendFile(log, '-----> Build succeeded\n');
    await writeFile(join(stagingDir, 'done'), '');
    const rest = await readToEnd(res); // returns only when the server ends the response
    assert.equal(rest, '-----> Build succeeded\n');
    assert.ok(Date.now() - started < 2000, 'the response ended after done appeared');
  });

  it('ends at once for a staging task that has already finished', async () => {
    const res = await fetch(url(STAGING, 'staging.log', { tail: true }));
    assert.equal(await res.text(), '-----> Downloading buildpack\n-----> Build succeeded\n');
  });

  it('still refuses a symlink leading outside', async () => {
    const res = await fetch(url(INSTANCE, 'app/escape', { tail: true }));
    assert.equal(res.status, 403);
    await res.arrayBuffer();
  });
});

describe('instances come from the DEA snapshot, never from the URL', () => {
  let dea: string;
  let srv: DirectoryServer;
  let at: string;
  let recorded: ReturnType<typeof recordingLogger>;
  const sign = (instanceId: string, path: string, opts: { tail?: boolean } = {}) =>
    signedUrl(SECRET, at, { kind: 'instance', instanceId }, path, { now: NOW, ...opts });

  async function makeInstance(id: string, content: string, parent = join(dea, 'instances')): Promise<string> {
    const dir = join(parent, id);
    await mkdir(join(dir, 'logs'), { recursive: true });
    await writeFile(join(dir, 'logs', 'stdout.log'), content);
    return dir;
  }

  before(async () => {
    dea = await realpath(await mkdtemp(join(tmpdir(), 'nap-directory-snapshot-')));
    await makeInstance('running-1', 'running line\n');
    await makeInstance('crashed-1', 'last words before the crash\n');
    await makeInstance('removed-1', 'soon forgotten\n');
    await makeInstance('followed-1', 'followed line\n');
    await makeInstance('not-listed', 'OUTSIDE-CONTENT not listed\n');
    await makeInstance('elsewhere', 'OUTSIDE-CONTENT elsewhere\n', join(dea, 'outside'));
    // A directory under instances/ that is really a symlink to somewhere else.
    await symlink(join(dea, 'outside', 'elsewhere'), join(dea, 'instances', 'linked-out'));
    await writeSnapshot(dea, [
      { id: 'running-1', state: 'RUNNING' },
      { id: 'crashed-1', state: 'CRASHED', index: 1 },
      { id: 'removed-1', state: 'RUNNING', index: 2 },
      { id: 'followed-1', state: 'RUNNING', index: 3 },
      // Entries whose directory the DEA would never record: all refused.
      { id: 'points-outside', dir: join(dea, 'outside', 'elsewhere') },
      { id: 'dotdot-outside', dir: `${dea}/instances/../outside/elsewhere` },
      { id: 'the-root-itself', dir: join(dea, 'instances') },
      { id: 'through-symlink', dir: join(dea, 'instances', 'linked-out') },
      { id: 'prefix-sibling', dir: `${dea}/instancesX/elsewhere` },
      { id: 'gone-already', dir: join(dea, 'instances', 'gone-already') },
    ]);
    recorded = recordingLogger();
    const settings = { ...loadSettings({}), deaDir: dea, deaHost: '127.0.0.1', directoryPort: 0, directorySecret: SECRET };
    srv = await startDirectoryServer(settings, recorded.log, { now: () => NOW, followPollMs: 50 });
    at = `http://127.0.0.1:${srv.port}`;
  });

  after(async () => {
    await srv?.close();
    if (dea) await rm(dea, { recursive: true, force: true });
  });

  it('serves a listed instance from the directory the snapshot records', async () => {
    const res = await fetch(sign('running-1', 'logs/stdout.log'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'running line\n');
  });

  it('still serves a CRASHED instance, files and follows, until the DEA cleans it up', async () => {
    const res = await fetch(sign('crashed-1', 'logs/stdout.log'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'last words before the crash\n');
    const listing = await fetch(sign('crashed-1', 'logs'));
    assert.match(await listing.text(), /^stdout\.log\t/m);
    const controller = new AbortController();
    const tail = await fetch(sign('crashed-1', 'logs/stdout.log', { tail: true }), { signal: controller.signal });
    assert.equal(tail.status, 200);
    assert.equal(await readUntil(tail, (t) => t.includes('crash\n')), 'last words before the crash\n');
    controller.abort();
  });

  it('answers 404 for an instance whose directory exists but which the snapshot does not list', async () => {
    await assertRefused(await fetch(sign('not-listed', 'logs/stdout.log')), 404, 'unknown_instance');
  });

  for (const id of ['points-outside', 'dotdot-outside', 'the-root-itself', 'through-symlink', 'prefix-sibling']) {
    it(`refuses a snapshot entry whose directory is not inside instances/ (${id}) with 404`, async () => {
      await assertRefused(await fetch(sign(id, 'logs/stdout.log')), 404, 'unknown_instance');
      await assertRefused(await fetch(sign(id, '')), 404, 'unknown_instance');
    });
  }

  it('answers 404 for a listed instance whose directory is already gone', async () => {
    await assertRefused(await fetch(sign('gone-already', 'logs/stdout.log')), 404, 'unknown_instance');
  });

  it('stops serving an instance once a rewritten snapshot no longer lists it, and ends its follows', async () => {
    const first = await fetch(sign('removed-1', 'logs/stdout.log'));
    assert.equal(await first.text(), 'soon forgotten\n');
    const follow = await fetch(sign('followed-1', 'logs/stdout.log', { tail: true }));
    await readUntil(follow, (t) => t.includes('followed line\n'));
    assert.ok(srv.followCount() >= 1);
    await writeSnapshot(dea, [{ id: 'running-1' }, { id: 'crashed-1', state: 'CRASHED', index: 1 }]);
    // The directories are still on disk: only the snapshot says they are gone.
    assert.ok(existsSync(join(dea, 'instances', 'removed-1', 'logs', 'stdout.log')));
    await assertRefused(await fetch(sign('removed-1', 'logs/stdout.log')), 404, 'unknown_instance');
    await assertRefused(await fetch(sign('followed-1', 'logs/stdout.log')), 404, 'unknown_instance');
    assert.equal(await readToEnd(follow), ''); // the follow ends on its own
    assert.equal((await fetch(sign('running-1', 'logs/stdout.log'))).status, 200);
  });

  it('serves an instance again as soon as the snapshot lists it again', async () => {
    await writeSnapshot(dea, [{ id: 'running-1' }, { id: 'removed-1', index: 2 }]);
    const res = await fetch(sign('removed-1', 'logs/stdout.log'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'soon forgotten\n');
  });

  it('treats a missing snapshot as no instances, logs it once, and recovers when it is written', async () => {
    recorded.warnings.length = 0;
    await unlink(join(dea, 'snapshot.json'));
    for (let i = 0; i < 3; i++) await assertRefused(await fetch(sign('running-1', 'logs/stdout.log')), 404, 'unknown_instance');
    assert.equal(recorded.warnings.filter((w) => w.includes('snapshot')).length, 1, recorded.warnings.join('\n'));
    await writeSnapshot(dea, [{ id: 'running-1' }]);
    assert.equal((await fetch(sign('running-1', 'logs/stdout.log'))).status, 200);
  });

  it('treats an unparsable snapshot as no instances, logs it once, never crashes', async () => {
    recorded.warnings.length = 0;
    for (const text of ['{"written_at": 1, "instances": [', 'null', '{"instances": 3}', '']) {
      await writeRawSnapshot(dea, text);
      await assertRefused(await fetch(sign('running-1', 'logs/stdout.log')), 404, 'unknown_instance');
      await assertRefused(await fetch(sign('running-1', 'logs/stdout.log')), 404, 'unknown_instance');
    }
    const snapshotWarnings = recorded.warnings.filter((w) => w.includes('snapshot'));
    assert.equal(snapshotWarnings.length, 1, snapshotWarnings.join('\n'));
    await writeSnapshot(dea, [{ id: 'running-1' }]);
    assert.equal((await fetch(sign('running-1', 'logs/stdout.log'))).status, 200);
  });
});

describe('InstanceSnapshot', () => {
  it('parses the DEA shape and skips malformed entries', () => {
    const parsed = parseSnapshot(
      JSON.stringify({
        written_at: 1,
        instances: [
          { start: { instance_id: 'a', app_id: 'x', index: 0 }, state: 'RUNNING', dir: '/d/instances/a' },
          { start: { instance_id: 'b' }, state: 'CRASHED', dir: '/d/instances/b' },
          { start: { instance_id: 'no-dir' }, state: 'RUNNING' },
          { start: {}, dir: '/d/instances/c' },
          { start: { instance_id: 'nul' }, dir: '/d/instances/\0' },
          { start: { instance_id: 'relative' }, state: 'RUNNING', dir: 'instances/relative' },
          { start: { instance_id: 'bad-state' }, state: 'SLEEPING', dir: '/d/instances/bad-state' },
          null,
          'junk',
        ],
      }),
    );
    assert.ok(parsed instanceof Map);
    assert.deepEqual([...parsed.keys()], ['a', 'b']);
    assert.deepEqual(parsed.get('b'), { instanceId: 'b', state: 'CRASHED', dir: '/d/instances/b' });
    assert.equal(typeof parseSnapshot('{'), 'string');
    assert.equal(typeof parseSnapshot('[]'), 'string');
  });

  it('sees every rewrite, including same-sized ones in quick succession', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nap-snapshot-'));
    try {
      const snapshot = new InstanceSnapshot(join(dir, 'snapshot.json'), recordingLogger().log);
      assert.equal(await snapshot.lookup('a'), undefined);
      for (let i = 0; i < 20; i++) {
        const state = i % 2 === 0 ? 'RUNNING' : 'CRASHED'; // same length: same-sized files
        await writeSnapshot(dir, [{ id: 'a', state }]);
        assert.equal((await snapshot.lookup('a'))?.state, state);
        assert.equal((await snapshot.all()).length, 1);
      }
      await Promise.all(Array.from({ length: 20 }, () => snapshot.lookup('a'))); // concurrent lookups share one read
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
