import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gitBuildpackLabel, parseBuildpackChoice } from '../src/buildpacks.js';

test('a buildpack choice is a name, a git URL with an optional #ref, or refused with why', () => {
  assert.deepEqual(parseBuildpackChoice('nodejs'), { kind: 'name', name: 'nodejs' });
  assert.deepEqual(parseBuildpackChoice('https://github.com/x/bp.git'), { kind: 'git', url: 'https://github.com/x/bp.git' });
  assert.deepEqual(parseBuildpackChoice('https://github.com/x/bp.git#v1.2'), { kind: 'git', url: 'https://github.com/x/bp.git', ref: 'v1.2' });
  assert.deepEqual(parseBuildpackChoice('git@github.com:x/bp.git#main'), { kind: 'git', url: 'git@github.com:x/bp.git', ref: 'main' });
  assert.deepEqual(parseBuildpackChoice('git://host/bp'), { kind: 'git', url: 'git://host/bp' });
  assert.deepEqual(parseBuildpackChoice('file:///tmp/r/repo.git#0123abc'), { kind: 'git', url: 'file:///tmp/r/repo.git', ref: '0123abc' });
  for (const bad of ['ftp://host/bp.git', '/tmp/repo.git', './bp', 'https://h/bp.git#-upload-pack=x', 'https://h/bp.git#a..b', 'https://h/b p.git']) {
    assert.equal(parseBuildpackChoice(bad).kind, 'invalid', bad);
  }
  // Not a URL at all: taken for a name, which no buildpack has, so it never reaches git.
  assert.equal(parseBuildpackChoice('ext::sh -c touch% /tmp/pwned').kind, 'name');
  assert.equal(gitBuildpackLabel('https://h/bp.git', 'main'), 'https://h/bp.git#main');
  assert.equal(gitBuildpackLabel('https://h/bp.git'), 'https://h/bp.git');
});
