import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { appBody, readManifest } from '../src/push/manifest.js';
import { packApp } from '../src/push/pack.js';

const dir = mkdtempSync(join(tmpdir(), 'nap-manifest-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a Cloud Foundry manifest becomes the app body, and flags win', async () => {
  writeFileSync(
    join(dir, 'manifest.yml'),
    [
      'applications:',
      '- name: web',
      '  instances: 2',
      '  memory: 512M',
      '  command: node server.js',
      '  buildpack: nodejs',
      '  env: {GREETING: hi, RETRIES: 3}',
      '  routes: [{route: web.example.com}]',
      '  health-check-type: http',
      '  health-check-http-endpoint: /health',
      '  timeout: 30',
      '- name: worker',
    ].join('\n'),
  );
  const apps = await readManifest(dir);
  assert.deepEqual(apps.map((a) => a.name), ['web', 'worker']);
  assert.deepEqual(appBody(apps[0], {}), {
    instances: 2,
    memory: '512M',
    command: 'node server.js',
    buildpack: 'nodejs',
    env: { GREETING: 'hi', RETRIES: '3' },
    routes: ['web.example.com'],
    health_check: { type: 'http', endpoint: '/health', timeout_s: 30 },
  });
  const overridden = appBody(apps[0], { instances: 5, memory: '1G', disk: '2G' });
  assert.equal(overridden.instances, 5);
  assert.equal(overridden.memory, '1G');
  assert.equal(overridden.disk, '2G', 'nap push -k wins over the manifest, as -m does');
});

test('no manifest means no applications; a broken one is a clear error', async () => {
  const empty = mkdtempSync(join(dir, 'empty-'));
  assert.deepEqual(await readManifest(empty), []);
  const broken = mkdtempSync(join(dir, 'broken-'));
  writeFileSync(join(broken, 'manifest.yml'), 'applications: [{instances: "many"}]');
  await assert.rejects(readManifest(broken), /manifest\.yml: applications\.0\.instances/);
  writeFileSync(join(broken, 'manifest.yml'), 'applications: [unclosed');
  await assert.rejects(readManifest(broken), /not valid YAML/);
});

test('manifest processes, as Cloud Foundry lists them or as a map, become per-type settings', async () => {
  const listDir = mkdtempSync(join(dir, 'list-'));
  writeFileSync(
    join(listDir, 'manifest.yml'),
    ['applications:', '- name: jobs', '  processes:', '  - type: worker', '    instances: 3', '    memory: 128M', '  - type: web', '    instances: 2'].join('\n'),
  );
  const [listed] = await readManifest(listDir);
  assert.deepEqual(appBody(listed, {}).processes, { worker: { instances: 3, memory: '128M' }, web: { instances: 2 } });

  const mapDir = mkdtempSync(join(dir, 'map-'));
  writeFileSync(join(mapDir, 'nap.yml'), ['applications:', '- name: mpi', '  processes:', '    slave: {instances: 4, command: ./slave}'].join('\n'));
  const [mapped] = await readManifest(mapDir);
  assert.deepEqual(appBody(mapped, {}).processes, { slave: { instances: 4, command: './slave' } });

  const badDir = mkdtempSync(join(dir, 'bad-'));
  writeFileSync(join(badDir, 'manifest.yml'), ['applications:', '- name: x', '  processes:', '  - type: Worker!'].join('\n'));
  await assert.rejects(readManifest(badDir), /process type/);
});

test('flags win over the manifest’s processes.web too', async () => {
  const flagsDir = mkdtempSync(join(dir, 'flags-'));
  writeFileSync(join(flagsDir, 'manifest.yml'), ['applications:', '- name: app', '  processes:', '  - type: web', '    instances: 2', '    memory: 128M'].join('\n'));
  const [app] = await readManifest(flagsDir);
  const body = appBody(app, { instances: 5 });
  assert.equal(body.instances, 5);
  assert.deepEqual(body.processes, { web: { memory: '128M' } });
});

test('a manifest, profile or .napignore that is a link is refused without reading it; errors quote nothing of the file', async () => {
  const secret = join(dir, 'secret.txt');
  writeFileSync(secret, 'top-secret-value\n');
  for (const file of ['manifest.yml', 'profile']) {
    const linked = mkdtempSync(join(dir, 'linked-'));
    symlinkSync(secret, join(linked, file));
    await assert.rejects(readManifest(linked), (err: Error) => err.message.includes(`${file} is a symbolic link`) && !err.message.includes('top-secret'));
  }
  const ignoreLinked = mkdtempSync(join(dir, 'ignore-linked-'));
  writeFileSync(join(ignoreLinked, 'server.js'), '');
  symlinkSync(secret, join(ignoreLinked, '.napignore'));
  await assert.rejects(packApp(ignoreLinked, join(dir, 'out.tgz')), /\.napignore is a symbolic link/);

  const badProfile = mkdtempSync(join(dir, 'bad-profile-'));
  writeFileSync(join(badProfile, 'profile'), 'top-secret-value\n');
  await assert.rejects(readManifest(badProfile), (err: Error) => /profile line 1: expected/.test(err.message) && !err.message.includes('top-secret'));
  const badYaml = mkdtempSync(join(dir, 'bad-yaml-'));
  writeFileSync(join(badYaml, 'manifest.yml'), 'applications:\n- name: [top-secret-value\n');
  await assert.rejects(readManifest(badYaml), (err: Error) => /not valid YAML \(line \d+\)/.test(err.message) && !err.message.includes('top-secret'));
  const badEnum = mkdtempSync(join(dir, 'bad-enum-'));
  writeFileSync(join(badEnum, 'manifest.yml'), 'applications:\n- name: x\n  health-check-type: top-secret-value\n');
  await assert.rejects(readManifest(badEnum), (err: Error) => /applications\.0\.health-check-type: must be one of/.test(err.message) && !err.message.includes('top-secret'));
});
