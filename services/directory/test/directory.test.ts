import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, realpath, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger, loadSettings, signedUrl, type DirectoryResource } from '@nap/common';
import { startDirectoryServer, type DirectoryServer } from '../src/index.js';

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
function rawSignedUrl(resourceBase: string, encodedPath: string): string {
  const timestamp = String(Math.floor(NOW / 1000));
  const hmac = createHmac('sha256', SECRET).update(`${resourceBase}?path=${encodedPath}&timestamp=${timestamp}`).digest('hex');
  return `${base}${resourceBase}?path=${encodedPath}&timestamp=${timestamp}&hmac=${hmac}`;
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
    assert.equal((await fetch(signed.replace('/instance_paths/abc', '/instance_paths/abcx'))).status, 401);
    assert.equal((await fetch(signed.replace('path=app%2Fserver.js', 'path=logs%2Fstdout.log'))).status, 401);
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
    assert.equal(await errorCode(unknown), 'instance_not_found');
  });
});

describe('confinement to the resource directory', () => {
  const refused: Array<[string, () => string]> = [
    ['../ escape', () => url(INSTANCE, '../abcx/secret.txt')],
    ['deep ../ escape', () => url(INSTANCE, 'app/../../../outside/secret.txt')],
    ['%2e%2e/ escape', () => rawSignedUrl('/instance_paths/abc', '%2e%2e/%2e%2e/outside/secret.txt')],
    ['absolute path', () => url(INSTANCE, '/etc/passwd')],
    ['NUL byte', () => url(INSTANCE, 'app/server.js\0.txt')],
    ['symlink to a file outside', () => url(INSTANCE, 'app/escape')],
    ['symlink to a directory outside', () => url(INSTANCE, 'app/escape-dir/secret.txt')],
    ['symlink into a sibling sharing the prefix', () => url(INSTANCE, 'app/sibling')],
    ['staging ../ escape', () => url(STAGING, '../../instances/abc/app/server.js')],
  ];
  for (const [name, make] of refused) {
    it(`refuses ${name} with 403`, async () => {
      const res = await fetch(make());
      assert.equal(res.status, 403);
      const text = await res.text();
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'forbidden');
      assert.doesNotMatch(text, /OUTSIDE-CONTENT|SIBLING-CONTENT/);
    });
  }

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
