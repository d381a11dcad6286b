import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultDeaMemoryMb, loadSettings, requireSetting, SettingsError } from '../src/settings.js';

/** Runs loadSettings and returns the SettingsError it must throw. */
function settingsError(env: NodeJS.ProcessEnv): SettingsError {
  try {
    loadSettings(env);
  } catch (e) {
    assert.ok(e instanceof SettingsError, `expected a SettingsError, got ${String(e)}`);
    return e;
  }
  assert.fail(`loadSettings(${JSON.stringify(env)}) did not throw`);
}

describe('loadSettings defaults (CONTRACT §1)', () => {
  const s = loadSettings({});

  test('ports', () => {
    assert.equal(s.controllerPort, 9022);
    assert.equal(s.routerPort, 8080);
    assert.equal(s.routerStatusPort, 8082);
    assert.equal(s.directoryPort, 9024);
  });

  test('urls, domain and home', () => {
    assert.deepEqual(s.natsUrls, ['nats://127.0.0.1:4222']);
    assert.deepEqual(s.etcdUrls, ['http://127.0.0.1:2379']);
    assert.equal(s.domain, 'nap.localhost');
    assert.equal(s.home, join(homedir(), '.nap'));
    assert.equal(s.controllerUrl, 'http://127.0.0.1:9022');
    assert.equal(s.routerUrl, 'http://127.0.0.1:8080');
    assert.equal(s.directoryUrl, 'http://127.0.0.1:9024');
  });

  test('DEA', () => {
    // The machine's memory less the platform's reserve (issue 18).
    assert.equal(s.deaMemoryMb, defaultDeaMemoryMb());
    assert.equal(defaultDeaMemoryMb(24_000), 21_000);
    assert.equal(defaultDeaMemoryMb(2048), 1024);
    assert.equal(defaultDeaMemoryMb(1024), 512);
    assert.deepEqual(s.deaPortRange, [61000, 64999]);
    assert.equal(s.deaDir, join(homedir(), '.nap', 'dea'));
    assert.equal(s.deaHost, '127.0.0.1');
    assert.equal(s.deaZone, 'default');
    assert.equal(s.deaId, undefined);
    assert.equal(s.dockerSocket, '/var/run/docker.sock');
    assert.equal(s.stackImage, 'nap/stack:bookworm');
  });

  test('secrets and credentials are unset', () => {
    assert.equal(s.natsUser, undefined);
    assert.equal(s.natsPassword, undefined);
    assert.equal(s.directorySecret, undefined);
    assert.equal(s.adminToken, undefined);
    assert.throws(() => requireSetting(s, 'directorySecret', 'NAP_DIRECTORY_SECRET'), (e: Error) => e instanceof SettingsError && /NAP_DIRECTORY_SECRET/.test(e.message));
  });

  test('an empty variable counts as unset', () => {
    assert.equal(loadSettings({ NAP_ROUTER_PORT: '' }).routerPort, 8080);
  });
});

describe('loadSettings overrides', () => {
  test('values derived from other settings follow them', () => {
    const s = loadSettings({ NAP_HOME: '/srv/nap', NAP_DEA_HOST: '10.0.0.5', NAP_DIRECTORY_PORT: '9100', NAP_ROUTER_PORT: '80' });
    assert.equal(s.home, '/srv/nap');
    assert.equal(s.deaDir, '/srv/nap/dea');
    assert.equal(s.directoryUrl, 'http://10.0.0.5:9100');
    assert.equal(s.routerPort, 80);
    assert.equal(s.routerUrl, 'http://127.0.0.1:80');
  });

  test('comma lists split and trim', () => {
    const s = loadSettings({
      NAP_NATS_URL: 'nats://a:4222, nats://b:4222,nats://c:4222,',
      NAP_ETCD_URLS: 'http://e1:2379,https://e2:2379',
    });
    assert.deepEqual(s.natsUrls, ['nats://a:4222', 'nats://b:4222', 'nats://c:4222']);
    assert.deepEqual(s.etcdUrls, ['http://e1:2379', 'https://e2:2379']);
  });

  test('port range and memory', () => {
    const s = loadSettings({ NAP_DEA_PORT_RANGE: '20000-20010', NAP_DEA_MEMORY_MB: '512' });
    assert.deepEqual(s.deaPortRange, [20000, 20010]);
    assert.equal(s.deaMemoryMb, 512);
  });
});

describe('loadSettings rejects bad values, naming the variable', () => {
  const cases: [string, string][] = [
    ['NAP_ROUTER_PORT', 'abc'],
    ['NAP_ROUTER_PORT', '70000'],
    ['NAP_ROUTER_PORT', '0'],
    ['NAP_CONTROLLER_PORT', '80.5'],
    ['NAP_DEA_PORT_RANGE', '5-3'],
    ['NAP_DEA_PORT_RANGE', '61000'],
    ['NAP_DEA_PORT_RANGE', '100-200'],
    ['NAP_NATS_URL', 'http://x'],
    ['NAP_NATS_URL', 'nats://a:4222,http://b'],
    ['NAP_ETCD_URLS', 'etcd://x'],
    ['NAP_DOMAIN', 'Bad_Domain'],
    ['NAP_DOMAIN', '-x.localhost'],
    ['NAP_DEA_MEMORY_MB', '-1'],
    ['NAP_DIRECTORY_SECRET', 'short'],
    ['NAP_LOG_LEVEL', 'loud'],
  ];
  for (const [variable, value] of cases) {
    test(`${variable}=${value}`, () => {
      const e = settingsError({ [variable]: value });
      assert.match(e.message, new RegExp(`${variable}:`));
      assert.ok(e.message.includes(JSON.stringify(value)), `message shows the value: ${e.message}`);
      assert.equal(e.problems.length, 1);
    });
  }

  test('every problem is reported at once', () => {
    const e = settingsError({ NAP_ROUTER_PORT: 'abc', NAP_DOMAIN: 'Bad_Domain' });
    assert.equal(e.problems.length, 2);
    assert.match(e.message, /NAP_ROUTER_PORT/);
    assert.match(e.message, /NAP_DOMAIN/);
  });
});

describe('NAP_CONFIG', () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'nap-settings-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a YAML file sets keys, and the environment wins over it', () => {
    const config = file('nap.yml', 'NAP_ROUTER_PORT: 8181\nNAP_DOMAIN: example.test\nNAP_DEA_PORT_RANGE: 30000-30100\nNAP_NATS_URL: nats://n1:4222,nats://n2:4222\n');
    const fromFile = loadSettings({ NAP_CONFIG: config });
    assert.equal(fromFile.routerPort, 8181);
    assert.equal(fromFile.domain, 'example.test');
    assert.deepEqual(fromFile.deaPortRange, [30000, 30100]);
    assert.deepEqual(fromFile.natsUrls, ['nats://n1:4222', 'nats://n2:4222']);
    assert.equal(fromFile.controllerPort, 9022, 'keys the file does not set keep their defaults');

    const both = loadSettings({ NAP_CONFIG: config, NAP_ROUTER_PORT: '9999' });
    assert.equal(both.routerPort, 9999);
    assert.equal(both.domain, 'example.test');
  });

  test('a bad value in the file names the variable', () => {
    const e = settingsError({ NAP_CONFIG: file('bad-value.yml', 'NAP_ROUTER_PORT: abc\n') });
    assert.match(e.message, /NAP_ROUTER_PORT/);
  });

  test('an empty file sets nothing', () => {
    assert.equal(loadSettings({ NAP_CONFIG: file('empty.yml', '') }).routerPort, 8080);
  });

  for (const [name, text] of [
    ['scalar.yml', 'just some words\n'],
    ['list.yml', '- NAP_ROUTER_PORT\n- 8080\n'],
    ['broken.yml', 'NAP_ROUTER_PORT: [8080\n  : :\n'],
  ]) {
    test(`a file that is not a YAML mapping (${name}) is a clear SettingsError`, () => {
      const path = file(name, text);
      const e = settingsError({ NAP_CONFIG: path });
      assert.match(e.message, /NAP_CONFIG/);
      assert.ok(e.message.includes(path), `message names the file: ${e.message}`);
    });
  }

  test('a missing file is a SettingsError naming it', () => {
    const path = join(dir, 'does-not-exist.yml');
    const e = settingsError({ NAP_CONFIG: path });
    assert.match(e.message, /NAP_CONFIG/);
    assert.ok(e.message.includes(path));
  });
});

describe('NAP_CONTAINER_SUBNET', () => {
  test('defaults to 10.213.0.0/20 and takes another private network', () => {
    assert.equal(loadSettings({}).containerSubnet, '10.213.0.0/20');
    assert.equal(loadSettings({ NAP_CONTAINER_SUBNET: '172.30.8.0/24' }).containerSubnet, '172.30.8.0/24');
  });

  test('anything but a CIDR network of /8 to /28 is refused, saying what is expected', () => {
    for (const bad of ['10.213.0.1/20', '10.213.0.0', '10.213.0.0/30', '300.1.0.0/16', 'fd00::/64']) {
      const err = settingsError({ NAP_CONTAINER_SUBNET: bad });
      assert.match(err.message, /NAP_CONTAINER_SUBNET: expected an IPv4 network in CIDR form, \/8 to \/28/, bad);
    }
  });
});

describe('the node: its address and roles, and its settings file', () => {
  const home = mkdtempSync(join(tmpdir(), 'nap-node-settings-'));
  after(() => rmSync(home, { recursive: true, force: true }));

  test('alone, a node is 127.0.0.1 with every role', () => {
    const s = loadSettings({ NAP_HOME: home });
    assert.equal(s.nodeAddress, '127.0.0.1');
    assert.deepEqual(s.nodeRoles, ['engines', 'controller', 'router', 'dea']);
  });

  test("an advertised address is what every part binds and advertises, unless a setting says otherwise", () => {
    const s = loadSettings({ NAP_HOME: home, NAP_NODE_ADDRESS: '10.1.2.3', NAP_ROUTER_URL: 'http://router.example:80' });
    assert.deepEqual(s.natsUrls, ['nats://10.1.2.3:4222']);
    assert.deepEqual(s.etcdUrls, ['http://10.1.2.3:2379']);
    assert.equal(s.controllerUrl, 'http://10.1.2.3:9022');
    assert.equal(s.deaHost, '10.1.2.3');
    assert.equal(s.directoryUrl, 'http://10.1.2.3:9024');
    assert.equal(s.routerUrl, 'http://router.example:80');
  });

  test('NAP_HOME/node.yaml is read under NAP_CONFIG and the environment', () => {
    writeFileSync(join(home, 'node.yaml'), 'NAP_NODE_ADDRESS: 10.9.9.9\nNAP_NODE_ROLES: router,dea\nNAP_DOMAIN: from-node.example\n');
    const s = loadSettings({ NAP_HOME: home, NAP_DOMAIN: 'from-env.example' });
    assert.equal(s.nodeAddress, '10.9.9.9');
    assert.deepEqual(s.nodeRoles, ['router', 'dea']);
    assert.equal(s.domain, 'from-env.example');
    assert.equal(s.controllerUrl, 'http://10.9.9.9:9022');
  });

  test('a bad address or role is refused with what was given', () => {
    assert.match(settingsError({ NAP_HOME: home, NAP_NODE_ADDRESS: '10.0.0.300' }).message, /NAP_NODE_ADDRESS: expected an IPv4 address/);
    assert.match(settingsError({ NAP_HOME: home, NAP_NODE_ROLES: 'dea,cook' }).message, /NAP_NODE_ROLES: expected a comma-separated list of engines, controller, router, dea/);
  });
});
