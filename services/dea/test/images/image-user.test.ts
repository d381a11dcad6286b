import assert from 'node:assert/strict';
import { test } from 'node:test';
import { instanceUser } from '../../src/images/image-user.js';

const passwd = ['root:x:0:0:root:/root:/bin/bash', 'toor:x:0:5::/root:/bin/sh', 'vcap:x:2000:2000::/home/vcap:/bin/bash', 'web:x:1001:1002::/srv:/bin/sh', 'wheelie:x:1003:0::/:/bin/sh'].join('\n');
const group = ['root:x:0:', 'staff:x:50:', 'web:x:1002:'].join('\n');
const accounts = { passwd, group };

test('an image never runs as uid 0: empty, root, 0, and names that are uid 0 become vcap', () => {
  for (const user of [undefined, '', '  ', 'root', '0', '0:0', 'root:root', 'toor', 'toor:staff', '0:50']) {
    assert.equal(instanceUser(user, accounts), '2000:2000', JSON.stringify(user));
  }
});

test('other users run as themselves, resolved to numbers; group 0 becomes vcap\'s group', () => {
  assert.equal(instanceUser('web', accounts), '1001:1002');
  assert.equal(instanceUser('web:staff', accounts), '1001:50');
  assert.equal(instanceUser('1001', accounts), '1001:1002');
  assert.equal(instanceUser('4242', accounts), '4242:4242', 'a uid without a passwd line gets its own number as group, not 0');
  assert.equal(instanceUser('web:root', accounts), '1001:2000');
  assert.equal(instanceUser('web:0', accounts), '1001:2000');
  assert.equal(instanceUser('wheelie', accounts), '1003:2000', 'a primary group of 0 is not kept');
});

test('a name the image cannot resolve runs as vcap rather than failing open', () => {
  assert.equal(instanceUser('nobody-here', accounts), '2000:2000');
  assert.equal(instanceUser('web', { passwd: null, group: null }), '2000:2000');
  assert.equal(instanceUser('web:nogroup', accounts), '1001:2000');
});
