import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { shellCommand, shellQuote } from '../src/images/shell-words.js';
import { baseImages } from '../src/images/dockerfile-build.js';

test('exec-form commands become shell lines that /bin/sh splits back into the same argv', () => {
  const argvs = [
    ['node', 'server.js'],
    ['/bin/sh', '-c', 'echo "$PORT" && exec node server.js'],
    ['python3', '-c', "print('it''s')", '', 'two words', 'a\\b', '$HOME', '`id`', 'x\ny'],
  ];
  for (const argv of argvs) {
    const line = shellCommand(argv);
    const back = execFileSync('/bin/sh', ['-c', `for a in ${line}; do :; done; printf '%s\\0' ${line}`], { encoding: 'utf8' });
    assert.deepEqual(back.split('\0').slice(0, -1), argv, line);
  }
  assert.equal(shellCommand(['node', 'server.js']), 'node server.js');
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
});

test('the images a Dockerfile starts from: stages, scratch and ARG-named bases are not among them', () => {
  const dockerfile = [
    '# FROM commented/out',
    'FROM --platform=linux/amd64 nap/stack:bookworm AS build',
    'RUN make',
    'from build as second',
    'FROM scratch',
    'ARG BASE=x',
    'FROM $BASE',
    'FROM \\',
    '  other/image:1',
    'COPY --from=build /x /x',
  ].join('\n');
  assert.deepEqual(baseImages(dockerfile), ['nap/stack:bookworm', 'other/image:1']);
});
