// Member ids and client ids that are names of `Object.prototype` members. `toString`,
// `constructor`, `valueOf` and `hasOwnProperty` are node ids like any other, and the member keeps
// per-node and per-client tables (silence counts, acknowledgement counts, the client table) in plain
// objects, where `table[id]` finds an inherited member when no entry is there. (`__proto__` is no
// node id: `nodeId` refuses it, as msgpack decoding renames that key.)
// Invariant: such a member is suspected when silent like any other (failure detector, VR 4.2),
// evicted when it stops acknowledging (autoMembership), and such a client's retry is answered from
// the client table, never ordered twice (integrity, VR 4.1); a client id of `__proto__` is refused
// with a reply that says so, never ordered.
import { describe, expect, it } from 'vitest';
import { bodies, harness, type Effects } from './member-harness.test-support.js';
import type { PeerMessage } from './messages.js';
import { GROUP_DEFAULTS, groupSettings } from './settings.js';

/** Member `self` of `members` (the shared harness), each step read as the bodies it sent and replied. */
function unit(self: string, members: readonly string[], settings: Parameters<typeof groupSettings>[0] = {}) {
  const member = harness(self, settings, { members });
  const outcome = (effects: Effects) => ({
    sends: bodies(effects),
    replies: effects.replies.map((reply) => reply.body),
  });
  return {
    get state() {
      return member.state;
    },
    tick: () => outcome(member.tick()),
    peer: (from: string, body: PeerMessage) => outcome(member.peer(from, body)),
    client: (clientId: string, requestNumber: number) =>
      outcome(
        member.client({ type: 'broadcast', op: { clientId, requestNumber }, clientId, requestNumber })
          .effects,
      ),
  };
}

const suspicionTicks = GROUP_DEFAULTS.suspicionTimeoutMs / GROUP_DEFAULTS.heartbeatIntervalMs;

describe('membership: member and client ids that name Object.prototype members', () => {
  it('a backup suspects a silent primary named hasOwnProperty or toString after suspicionTimeoutMs', () => {
    for (const primary of ['hasOwnProperty', 'toString', 'constructor']) {
      const backup = unit('n2', [primary, 'n2', 'valueOf']);
      for (let tick = 1; tick < suspicionTicks; tick++) expect(backup.tick().sends, primary).toEqual([]);
      expect(backup.tick().sends, primary).toEqual([
        { type: 'pre-view-change', epoch: 1 },
        { type: 'pre-view-change', epoch: 1 },
      ]);
      expect(Object.hasOwn(backup.state.silentTicks, primary), primary).toBe(true);
      expect(backup.state.silentTicks[primary], primary).toBe(suspicionTicks);
      expect(Object.getPrototypeOf(backup.state.silentTicks)).toBe(Object.prototype);
    }
  });

  it('the primary answers a retry from a client named constructor from the client table, not ordering it twice', () => {
    const primary = unit('toString', ['toString', 'valueOf', 'constructor']);
    for (const clientId of ['hasOwnProperty', 'constructor', 'toString']) {
      const first = primary.client(clientId, 1);
      const opNumber = primary.state.opNumber;
      expect(
        first.sends.filter((body) => body.type === 'prepare'),
        clientId,
      ).toHaveLength(2);
      primary.peer('valueOf', { type: 'prepare-ok', epoch: 0, opNumber });
      expect(primary.state.commitNumber, clientId).toBe(opNumber);
      const retry = primary.client(clientId, 1);
      expect(retry.sends, clientId).toEqual([]);
      expect(retry.replies, clientId).toEqual([
        { type: 'broadcast-committed', clientId, requestNumber: 1, opNumber },
      ]);
    }
    expect(primary.state.opNumber).toBe(3);
    expect(Object.keys(primary.state.clients).sort()).toEqual(['constructor', 'hasOwnProperty', 'toString']);
    expect(Object.getPrototypeOf(primary.state.clients)).toBe(Object.prototype);
  });

  it('the primary refuses a client named __proto__, saying so, and orders nothing', () => {
    const primary = unit('toString', ['toString', 'valueOf', 'constructor']);
    const refused = primary.client('__proto__', 1);
    expect(refused.sends).toEqual([]);
    expect(refused.replies).toEqual([
      { type: 'invalid-broadcast', detail: 'client id __proto__ is reserved' },
    ]);
    expect(primary.state.opNumber).toBe(0);
    expect(Object.getPrototypeOf(primary.state.clients)).toBe(Object.prototype);
  });

  it('autoMembership evicts a backup named valueOf that stopped acknowledging', () => {
    const evictTicks = groupSettings().evictAfterMs / groupSettings().heartbeatIntervalMs;
    const primary = unit('toString', ['toString', 'constructor', 'valueOf'], { autoMembership: true });
    const leaves: unknown[] = [];
    for (let tick = 1; tick <= evictTicks + 5; tick++) {
      // The leave goes to both backups in one tick: one proposal.
      const proposal = primary
        .tick()
        .sends.find((body) => body.type === 'prepare' && body.entry.change !== undefined);
      if (proposal?.type === 'prepare') leaves.push(proposal.entry.change);
      primary.peer('constructor', { type: 'prepare-ok', epoch: 0, opNumber: primary.state.opNumber });
    }
    expect(leaves).toEqual([{ type: 'leave', node: 'valueOf' }]);
    expect(primary.state.counters.evictions).toBe(1);
  });
});
