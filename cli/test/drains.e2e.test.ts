import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '@nap/common';
import { eventually, nap, TestPlatform } from '@nap/testkit';

interface Received {
  pri: number;
  app: string;
  proc: string;
  msgid: string;
  text: string;
}

/** A syslog collector on loopback, as a drain's far end: RFC 6587 octet-counted RFC 5424 frames. */
class Collector {
  readonly frames: Received[] = [];
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(readonly port: number) {}

  async open(): Promise<void> {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (;;) {
          const space = buffer.indexOf(0x20);
          if (space < 0) return;
          const length = Number(buffer.subarray(0, space).toString());
          if (buffer.length < space + 1 + length) return;
          const message = buffer.subarray(space + 1, space + 1 + length).toString('utf8');
          buffer = buffer.subarray(space + 1 + length);
          const m = /^<(\d+)>1 \S+ \S+ (\S+) (\S+) (\S+) - (.*)$/s.exec(message);
          assert.ok(m, `an RFC 5424 message: ${JSON.stringify(message)}`);
          this.frames.push({ pri: Number(m[1]), app: m[2], proc: m[3], msgid: m[4], text: m[5] });
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  /**
   * As a syslog server shuts down cleanly: no new connections, a FIN on each open one, and what
   * was sent before the sender saw it still read. (Syslog over TCP has no acknowledgement: lines
   * in flight when a server dies abruptly are lost, with any sender.)
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    for (const s of this.sockets) s.end();
    // A sender that never answers the FIN is cut off: the test then sees what that loses.
    const cutOff = setTimeout(() => this.sockets.forEach((s) => s.destroy()), 5_000);
    await closed;
    clearTimeout(cutOff);
    this.server = null;
  }

  numbers(): number[] {
    return this.frames.filter((f) => f.msgid === 'stdout').map((f) => Number(/^line (\d+)$/.exec(f.text)?.[1]));
  }
}

/**
 * Issue 16's log drains on real engines: an app's lines reach a syslog listener the test runs, in
 * order, also those written while the listener was away; a developer cannot point a drain at the
 * platform's own network.
 */
describe('log drains: nap add-drain, drains, remove-drain', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  let mallory: Record<string, string>;
  let collector: Collector;
  const dirs: string[] = [];

  function appDir(name: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'nap-drains-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
    writeFileSync(
      join(dir, 'server.js'),
      "let n = 0;\nsetInterval(() => console.log(`line ${n++}`), 100);\nsetInterval(() => console.error('a warning'), 1000);\nrequire('http').createServer((q, s) => s.end('chatty\\n')).listen(process.env.PORT);\n",
    );
    return dir;
  }

  before(async () => {
    platform = await TestPlatform.start();
    env = platform.cliEnv();
    collector = new Collector(await freePort());
    await collector.open();
    const pushed = await nap(['push', 'chatty', '-p', appDir('chatty'), '-m', '64M'], env);
    assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
    const made = await nap(['users', 'create', 'mallory', '--json'], env);
    mallory = { ...env, NAP_TOKEN: (JSON.parse(made.stdout) as { token: string }).token };
  });

  after(async () => {
    await collector?.close();
    await platform?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("an app's lines reach the drain as RFC 5424, in order, and those written while it was away arrive too", async () => {
    const added = await nap(['add-drain', 'chatty', `syslog://127.0.0.1:${collector.port}`], env);
    assert.equal(added.code, 0, added.stderr);
    await eventually(async () => collector.numbers().length >= 10, 20_000, 'ten lines at the drain');
    const first = collector.frames.find((f) => f.msgid === 'stdout')!;
    assert.deepEqual([first.pri, first.app, first.proc], [14, 'chatty', 'web.0']);
    await eventually(async () => collector.frames.some((f) => f.msgid === 'stderr' && f.pri === 11 && f.text === 'a warning'), 10_000, 'a stderr line');

    // The drain goes away for two seconds (about twenty lines) and comes back on the same port.
    await collector.close();
    const gone = collector.numbers().at(-1)!;
    await new Promise((r) => setTimeout(r, 2_000));
    await collector.open();
    await eventually(async () => (collector.numbers().at(-1) ?? 0) > gone + 30, 20_000, 'lines after the drain came back');
    const numbers = collector.numbers();
    const from = numbers[0];
    assert.deepEqual(numbers, numbers.map((_, i) => from + i), 'every line, once, in order: none lost while the drain was away');
  });

  test('nap drains lists it; remove-drain stops the lines', async () => {
    const list = await nap(['drains', 'chatty', '--json'], env);
    assert.deepEqual((JSON.parse(list.stdout) as { url: string }[]).map((d) => d.url), [`syslog://127.0.0.1:${collector.port}`]);
    const removed = await nap(['remove-drain', 'chatty', `syslog://127.0.0.1:${collector.port}`], env);
    assert.equal(removed.code, 0, removed.stderr);
    await new Promise((r) => setTimeout(r, 7_000));
    const count = collector.frames.length;
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(collector.frames.length, count, 'no line after the drain was removed');
  });

  test("a developer's drain to the platform's own network is refused, and nothing is stored", async () => {
    const pushed = await nap(['push', 'mine', '-p', appDir('mine'), '-m', '64M', '--no-start'], mallory);
    assert.equal(pushed.code, 0, pushed.stderr);
    for (const url of [`syslog://127.0.0.1:${collector.port}`, 'syslog://169.254.169.254:514', 'syslog://10.1.2.3:514', 'syslog://localhost:514', 'https://[::1]/logs']) {
      const r = await nap(['add-drain', 'mine', url], mallory);
      assert.notEqual(r.code, 0, url);
      assert.match(r.stderr, /a drain may only send to public addresses/, url);
    }
    assert.equal((await nap(['add-drain', 'chatty', 'syslog://203.0.113.9:514'], mallory)).code, 1, "nor to another developer's app");
    const bad = await nap(['add-drain', 'mine', 'ftp://example.com/x'], mallory);
    assert.match(bad.stderr, /drains are syslog:\/\/, syslog-tls:\/\/ or https:\/\//);
    const list = await nap(['drains', 'mine', '--json'], mallory);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });
});
