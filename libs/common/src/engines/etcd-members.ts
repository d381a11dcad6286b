import type { Etcd3 } from 'etcd3';
import { Backoff, retry } from '../backoff.js';
import { nodeIdOf } from '../cluster.js';

/**
 * etcd refuses a member change until every member has been connected for its health interval
 * (5 s): right after a promotion, or while a member is away. That wait is taken here, bounded.
 */
const UNHEALTHY = /unhealthy cluster|circuit breaker is open/;
const RECONFIG_WAIT_MS = 12_000;

/** A member's name as its node names it; a learner that never started has none yet. */
function nameOf(m: { name: string; peerURLs: string[] }): string {
  return m.name || nodeIdOf(new URL(m.peerURLs[0]).hostname);
}

/**
 * Adds a member for `peerUrl` as a learner (as root) and answers the `--initial-cluster` it starts
 * with. A learner does not count towards the quorum: until it has started and caught up (and is
 * promoted), the cluster keeps working as before, so a host that joins and never comes up costs
 * nothing. A peer URL that is a member already (a host joining again) is answered as it is.
 */
export async function addEtcdLearner(root: Etcd3, name: string, peerUrl: string): Promise<string> {
  const listed = await root.cluster.memberList({});
  if (!listed.members.some((m) => m.peerURLs.includes(peerUrl))) {
    await retry(() => root.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true }), {
      backoff: new Backoff({ minMs: 250, maxMs: 2_000 }),
      retryIf: (err) => UNHEALTHY.test((err as Error).message),
      withinMs: RECONFIG_WAIT_MS,
    });
  }
  const { members } = await root.cluster.memberList({});
  return members.map((m) => `${m.peerURLs.includes(peerUrl) ? name : nameOf(m)}=${m.peerURLs[0]}`).join(',');
}

/**
 * Promotes every learner that has caught up with the leader; etcd refuses one that has not
 * ("can only promote a learner member which is in sync with leader"), which is tried again later.
 * Answers the members promoted.
 */
export async function promoteEtcdLearners(root: Etcd3): Promise<string[]> {
  const { members } = await root.cluster.memberList({});
  const promoted: string[] = [];
  for (const m of members.filter((m) => m.isLearner)) {
    try {
      await root.cluster.memberPromote({ ID: m.ID });
      promoted.push(nameOf(m));
    } catch {
      // not in sync yet (or not started): the next round tries again
    }
  }
  return promoted;
}

/** Removes the member whose peer URL is on `address`; false when there is none. */
export async function removeEtcdMember(root: Etcd3, address: string): Promise<boolean> {
  const { members } = await root.cluster.memberList({});
  const member = members.find((m) => m.peerURLs.some((u) => new URL(u).hostname === address));
  if (!member) return false;
  await root.cluster.memberRemove({ ID: member.ID });
  return true;
}
