import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as tar from 'tar';
import { packApp } from '../src/push/pack.js';

const work = mkdtempSync(join(tmpdir(), 'nap-pack-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function entries(file: string): Promise<string[]> {
  const names: string[] = [];
  await tar.t({ file, onReadEntry: (e) => names.push(e.path) });
  return names.sort();
}

test('.napignore, node_modules and .git stay out of the upload', async () => {
  const app = join(work, 'app');
  for (const d of ['node_modules/x', '.git', 'src', 'logs']) mkdirSync(join(app, d), { recursive: true });
  writeFileSync(join(app, 'server.js'), '');
  writeFileSync(join(app, 'src', 'a.js'), '');
  writeFileSync(join(app, 'node_modules', 'x', 'index.js'), '');
  writeFileSync(join(app, '.git', 'HEAD'), '');
  writeFileSync(join(app, 'logs', 'big.log'), '');
  writeFileSync(join(app, 'secret.env'), '');
  writeFileSync(join(app, '.napignore'), 'logs/\n*.env\n');
  const file = join(work, 'app.tgz');
  assert.equal(await packApp(app, file), 2);
  assert.deepEqual(await entries(file), ['server.js', 'src/a.js']);
});

test('.cfignore is honoured when there is no .napignore', async () => {
  const app = join(work, 'cf');
  mkdirSync(app);
  writeFileSync(join(app, 'index.html'), '');
  writeFileSync(join(app, 'draft.html'), '');
  writeFileSync(join(app, '.cfignore'), 'draft.html\n');
  const file = join(work, 'cf.tgz');
  await packApp(app, file);
  assert.deepEqual(await entries(file), ['index.html']);
});

test('an empty directory is refused with a clear message', async () => {
  const app = join(work, 'empty');
  mkdirSync(app);
  await assert.rejects(packApp(app, join(work, 'empty.tgz')), /nothing to push/);
});
