// The static buildpack's server (buildpacks/static/lib/static-server.js), run with node the way a
// droplet runs it: .nap/static-server.js beside public/, on $PORT.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { freePort, waitForPort } from '@nap/common';
import { repoRoot } from '@nap/testkit';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

let dir = '';
let port = 0;
let server: ChildProcess | null = null;
const bigCss = `body { color: red; }\n`.repeat(200);

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // A raw path, not a URL: the client must not normalise away the ../ we want the server to see.
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function startServer(siteFiles: Record<string, string>): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), 'nap-static-'));
  await mkdir(join(dir, '.nap'));
  await copyFile(join(repoRoot, 'buildpacks', 'static', 'lib', 'static-server.js'), join(dir, '.nap', 'static-server.js'));
  for (const [path, content] of Object.entries(siteFiles)) {
    await mkdir(join(dir, 'public', path, '..'), { recursive: true });
    await writeFile(join(dir, 'public', path), content);
  }
  // A fixed, whole-second mtime, so that If-Modified-Since comparisons are exact.
  const when = new Date('2026-01-02T03:04:05Z');
  await utimes(join(dir, 'public', 'style.css'), when, when);
  await writeFile(join(dir, 'secret.txt'), 'outside public/');
  port = await freePort();
  server = spawn(process.execPath, [join(dir, '.nap', 'static-server.js')], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
  assert.ok(await waitForPort('127.0.0.1', port, 10_000, () => server?.exitCode === null), 'the static server did not listen');
}

describe('static buildpack server', () => {
  before(() =>
    startServer({
      'index.html': '<h1>home</h1>\n',
      'style.css': bigCss,
      'small.txt': 'tiny\n',
      'logo.png': 'x'.repeat(4000),
      'docs/index.html': '<h1>docs</h1>\n',
      '404.html': '<h1>lost</h1>\n',
    }),
  );
  after(async () => {
    server?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('serves index.html for / with no-cache and validators', async () => {
    const res = await get('/');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), '<h1>home</h1>\n');
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.match(String(res.headers.etag), /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    assert.ok(res.headers['last-modified']);
  });

  test('gzips text above the threshold when the client accepts gzip, and only then', async () => {
    const zipped = await get('/style.css', { 'Accept-Encoding': 'br, gzip;q=0.8' });
    assert.equal(zipped.status, 200);
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.equal(zipped.headers.vary, 'Accept-Encoding');
    assert.equal(gunzipSync(zipped.body).toString(), bigCss);
    assert.ok(zipped.body.length < bigCss.length / 4);
    assert.equal(zipped.headers['cache-control'], 'public, max-age=60');

    const plain = await get('/style.css');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers['content-length'], String(bigCss.length));
    assert.equal(plain.body.toString(), bigCss);

    const refused = await get('/style.css', { 'Accept-Encoding': 'gzip;q=0' });
    assert.equal(refused.headers['content-encoding'], undefined);

    const small = await get('/small.txt', { 'Accept-Encoding': 'gzip' });
    assert.equal(small.headers['content-encoding'], undefined);
    assert.equal(small.body.toString(), 'tiny\n');

    const image = await get('/logo.png', { 'Accept-Encoding': 'gzip' });
    assert.equal(image.headers['content-encoding'], undefined);
    assert.equal(image.headers['content-type'], 'image/png');
  });

  test('304 on a matching If-None-Match or an If-Modified-Since not older than the file', async () => {
    const first = await get('/style.css');
    const etag = String(first.headers.etag);
    assert.equal(first.headers['last-modified'], 'Fri, 02 Jan 2026 03:04:05 GMT');

    const byTag = await get('/style.css', { 'If-None-Match': `"other", ${etag}` });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body.length, 0);
    assert.equal(byTag.headers.etag, etag);

    const byTagGzip = await get('/style.css', { 'If-None-Match': etag, 'Accept-Encoding': 'gzip' });
    assert.equal(byTagGzip.status, 304);

    assert.equal((await get('/style.css', { 'If-None-Match': '"other"' })).status, 200);
    // If-None-Match wins over If-Modified-Since when both are sent.
    assert.equal((await get('/style.css', { 'If-None-Match': '"other"', 'If-Modified-Since': 'Fri, 02 Jan 2026 03:04:05 GMT' })).status, 200);

    assert.equal((await get('/style.css', { 'If-Modified-Since': 'Fri, 02 Jan 2026 03:04:05 GMT' })).status, 304);
    assert.equal((await get('/style.css', { 'If-Modified-Since': 'Sat, 03 Jan 2026 00:00:00 GMT' })).status, 304);
    assert.equal((await get('/style.css', { 'If-Modified-Since': 'Fri, 02 Jan 2026 03:04:04 GMT' })).status, 200);
    assert.equal((await get('/style.css', { 'If-Modified-Since': 'not a date' })).status, 200);
  });

  test('a missing file gets 404.html with status 404, never a 304', async () => {
    const res = await get('/nope.html', { 'If-None-Match': '*' });
    assert.equal(res.status, 404);
    assert.equal(res.body.toString(), '<h1>lost</h1>\n');
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(res.headers.etag, undefined);
    const head = await get('/nope.html', {}, 'HEAD');
    assert.equal(head.status, 404);
    assert.equal(head.body.length, 0);
  });

  test('paths cannot leave public/', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/docs/../../secret.txt', '/..%2fsecret.txt', '/%2e%2e%2f.nap/static-server.js', '/%00', '/%zz']) {
      const res = await get(path);
      assert.equal(res.status, 404, path);
      assert.doesNotMatch(res.body.toString(), /outside public|createServer/, path);
    }
  });

  test('a directory without its slash is redirected; with it, its index.html is served', async () => {
    const bare = await get('/docs?x=1');
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.location, '/docs/?x=1');
    assert.equal((await get('/docs/')).body.toString(), '<h1>docs</h1>\n');
    const doubled = await get('//docs');
    assert.equal(doubled.status, 301);
    assert.equal(doubled.headers.location, '/docs/');
  });

  test('only GET and HEAD', async () => {
    const res = await get('/', {}, 'POST');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
  });
});
