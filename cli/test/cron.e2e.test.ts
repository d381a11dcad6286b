import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, nap, TestPlatform } from '@nap/testkit';

interface TaskRow {
  sequence_id: number;
  name: string;
  state: string;
}

/**
 * Issue 16's cron: a manifest's entry every minute runs as a task once per tick, whichever of two
 * controllers leads, and also across a fail-over (the leader killed between two ticks).
 */
describe('cron entries from the manifest, once per tick across a controller fail-over', () => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  let dir: string;

  const tasks = async () => {
    const r = await nap(['tasks', 'ticker', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as TaskRow[]).filter((t) => t.name.startsWith('every-minute.'));
  };

  /** Which controller acts as health manager (and so schedules): the one that logged taking it last. */
  async function leader(): Promise<string> {
    const acting = await Promise.all(
      ['controller-1', 'controller-2'].map(async (name) => {
        const lines = (await platform.logTail(name, 400)).split('\n').filter((l) => l.includes('acting as health manager'));
        const last = lines.at(-1);
        return { name, at: last ? (JSON.parse(last) as { time: number }).time : 0 };
      }),
    );
    const [first] = acting.sort((a, b) => b.at - a.at);
    assert.ok(first.at > 0, 'a controller acts as health manager');
    return first.name;
  }

  before(async () => {
    platform = await TestPlatform.start({ controllers: 2 });
    env = platform.cliEnv();
    dir = mkdtempSync(join(tmpdir(), 'nap-cron-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'ticker', version: '1.0.0', private: true }));
    writeFileSync(join(dir, 'server.js'), "require('http').createServer((q, s) => s.end('ticker\\n')).listen(process.env.PORT);\n");
    writeFileSync(
      join(dir, 'manifest.yml'),
      JSON.stringify({ applications: [{ name: 'ticker', memory: '64M', cron: [{ name: 'every-minute', schedule: '* * * * *', command: 'echo tick $NAP_TASK_NAME' }] }] }),
    );
  });

  after(async () => {
    await platform?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a bad schedule is refused at push, naming the field', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'nap-cron-bad-'));
    try {
      writeFileSync(join(bad, 'package.json'), JSON.stringify({ name: 'bad', version: '1.0.0' }));
      writeFileSync(join(bad, 'manifest.yml'), JSON.stringify({ applications: [{ name: 'badcron', cron: [{ schedule: '61 * * * *', command: 'true' }] }] }));
      const r = await nap(['push', '-p', bad], env);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /cron\.0\.schedule.*not a valid cron schedule.*minute/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  test('every tick runs once, before and after the leading controller is killed; nap cron shows the last and next run', async () => {
    const pushed = await nap(['push', '-p', dir], env);
    assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
    const first = await eventually(async () => ((await tasks()).length >= 1 ? (await tasks())[0] : null), 75_000, 'the first tick to run');
    const killed = await leader();
    await platform.stopService(killed, { kill: true });
    // The CLI talks to the controller that is left.
    env = { ...env, NAP_API: platform.controllerUrls[killed === 'controller-1' ? 1 : 0] };
    // The other controller takes over (its campaign wins once the dead one's lease ends) and runs the next tick.
    const later = await eventually(async () => {
      const list = await tasks();
      return list.some((t) => t.sequence_id > first.sequence_id) ? list : null;
    }, 120_000, 'a tick after the fail-over to run');
    const ticks = later.map((t) => t.name);
    assert.equal(new Set(ticks).size, ticks.length, `one task per tick: ${ticks.join(', ')}`);
    assert.ok(ticks.length >= 2);
    const done = await eventually(async () => {
      const list = await tasks();
      return list.every((t) => t.state === 'SUCCEEDED') ? list : null;
    }, 30_000, 'the cron tasks to succeed');
    assert.ok(done.length >= 2);
    const logs = await nap(['logs', 'ticker', '--task', String(first.sequence_id)], env);
    assert.match(logs.stdout, new RegExp(`tick ${first.name.replace(/\./g, '\\.')}`));

    const cron = await nap(['cron', 'ticker', '--json'], env);
    assert.equal(cron.code, 0, cron.stderr);
    const [entry] = JSON.parse(cron.stdout) as { name: string; last_run: { state: string; task_sequence: number } | null; next_run: string }[];
    assert.equal(entry.name, 'every-minute');
    assert.equal(entry.last_run?.state, 'started');
    assert.ok(Date.parse(entry.next_run) > Date.now() - 1000 && Date.parse(entry.next_run) <= Date.now() + 61_000, entry.next_run);
  });
});
