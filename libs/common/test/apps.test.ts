import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isAppName, parseMegabytes, Megabytes, RouteHost } from '../src/apps.js';

describe('isAppName (CONTRACT §2: lowercase DNS labels, 1-63 characters)', () => {
  for (const name of ['a', '7', 'hello-node', 'a1-b2-c3', 'x'.repeat(63), `a${'-'.repeat(61)}z`]) {
    test(`valid: ${JSON.stringify(name)}`, () => assert.equal(isAppName(name), true));
  }
  for (const name of ['', 'x'.repeat(64), 'Upper', 'hello-Node', '-x', 'x-', 'a_b', 'a.b', 'a b', 'ü', 'a\n', '\na']) {
    test(`invalid: ${JSON.stringify(name)}`, () => assert.equal(isAppName(name), false));
  }
});

describe('parseMegabytes', () => {
  const cases: [string | number, number | null][] = [
    ['256M', 256],
    ['1G', 1024],
    ['2g', 2048],
    ['1GB', 1024],
    ['512m', 512],
    ['512MB', 512],
    ['512mb', 512],
    ['512', 512],
    [' 128 M ', 128],
    [256, 256],
    ['0', null],
    ['0G', null],
    [0, null],
    ['abc', null],
    ['-5', null],
    [-5, null],
    [1.5, null],
    ['1.5G', null],
    ['', null],
    ['256K', null],
    ['M', null],
    [Number.NaN, null],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(parseMegabytes(input), expected));
  }
});

describe('Megabytes schema', () => {
  test('accepts sizes and numbers', () => {
    assert.equal(Megabytes.parse('1G'), 1024);
    assert.equal(Megabytes.parse(64), 64);
  });
  test('rejects a non-size with a message showing it', () => {
    const r = Megabytes.safeParse('lots');
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0].message, /"lots"/);
  });
});

describe('RouteHost schema', () => {
  test('lowercases and accepts wildcards', () => {
    assert.equal(RouteHost.parse('App.Example.COM'), 'app.example.com');
    assert.equal(RouteHost.parse('*.apps.test'), '*.apps.test');
  });
  test("accepts DNS's longest label and name", () => {
    assert.ok(RouteHost.safeParse(`${'a'.repeat(63)}.test`).success);
    assert.ok(RouteHost.safeParse(`${'a.'.repeat(125)}abc`).success);
    assert.equal(`${'a.'.repeat(125)}abc`.length, 253);
  });
  for (const bad of ['', 'a..b', '-a.test', 'a_b.test', 'http://a.test', 'a.test/path', '*.', 'a.*.test', 'a.test:8080', `${'a'.repeat(64)}.test`, `${'a.'.repeat(125)}abcd`]) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.equal(RouteHost.safeParse(bad).success, false));
  }
});
