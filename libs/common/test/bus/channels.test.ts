import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Bus } from '../../src/bus/bus.js';
import { channels } from '../../src/bus/channels.js';
import * as msg from '../../src/bus/schemas.js';
import { subjects } from '../../src/bus/subjects.js';

test('every subject of docs/contract.md §4 has its channel, on that very subject', () => {
  const subjectOf = (entry: (typeof channels)[keyof typeof channels]) => (typeof entry === 'function' ? entry('dea-1').subject : entry.subject);
  assert.deepEqual(Object.keys(channels).sort(), Object.keys(subjects).sort());
  for (const [name, entry] of Object.entries(channels)) {
    const subject = subjects[name as keyof typeof subjects];
    assert.equal(subjectOf(entry), typeof subject === 'function' ? subject('dea-1') : subject, name);
  }
  assert.equal(channels.stagingStart('dea-1').reply, msg.StagingReply);
  assert.equal(channels.routerGreet.reply, msg.RouterStart);
});

// Compiled, never run: a body that is not its subject's does not compile. Each line marked below
// must be a type error, or tsc fails the build, so a mismatched pair cannot reach the bus.
export function wrongPairsDoNotCompile(bus: Bus): void {
  const register = { host: '10.0.0.1', port: 61001, uris: ['a.nap.test'], app: 'a', private_instance_id: 'i' };
  bus.publish(channels.routerRegister, register);
  // @ts-expect-error a route registration is not a stop
  bus.publish(channels.deaStop, register);
  // @ts-expect-error nor an advertisement
  bus.publish(channels.deaAdvertise, register);
  // @ts-expect-error a start handler does not take what dea.stop carries
  bus.subscribe(channels.deaStop, (body: msg.DeaStart) => void body);
  // @ts-expect-error router.greet is answered with a router.start, not an advertisement
  bus.reply(channels.routerGreet, {} as never, { id: 'dea-1', host: 'h' });
}
