/**
 * The membership relay as a pure actor: each notice from this node becomes exactly one command for
 * the other side, with membership's epochs shifted by one; anything from another node, or anything
 * else, is counted and sent nowhere (a peer must not steer this node's membership or replica).
 */
import type { ActorContext, ActorInput } from '@steadfast/runtime';
import { address, nodeId, type Address, type Envelope } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { membershipRelay, type MembershipRelayState } from './membership-relay.js';

function relayHarness() {
  const sends: { target: Address; body: unknown }[] = [];
  let sequence = 0;
  const ctx = {
    self: address('n1', 'view-relay'),
    node: nodeId('n1'),
    send(target: Address, body: unknown) {
      sends.push({ target, body });
      return { origin: nodeId('n1'), incarnation: 1, sequence: ++sequence };
    },
  } as unknown as ActorContext;
  const instance = membershipRelay().start(ctx, undefined);
  const from = (node: string, actor: string, body: unknown) => {
    const envelope = {
      kind: 'one-way',
      id: { origin: nodeId(node), incarnation: 1, sequence: ++sequence },
      source: address(node, actor),
      target: address('n1', 'view-relay'),
      body,
    } as Envelope;
    sends.length = 0;
    instance.handle({ type: 'message', envelope } satisfies ActorInput);
    return [...sends];
  };
  return { from, state: () => instance.state() as MembershipRelayState };
}

describe('membership relay', () => {
  it('membership → replica: a view (epoch + 1), the outside notice and the quorum notice', () => {
    const relay = relayHarness();
    const view = { epoch: 4, members: ['n2', 'n1'], primary: 'n2' };
    expect(relay.from('n1', 'group.B', { type: 'group-view', group: 'B', view })).toEqual([
      {
        target: address('n1', 'replica'),
        body: { type: 'replica-view', view: { group: 'B', epoch: 5, members: ['n2', 'n1'], primary: 'n2' } },
      },
    ]);
    expect(relay.from('n1', 'group.B', { type: 'group-outside', group: 'B', version: 9 })).toEqual([
      { target: address('n1', 'replica'), body: { type: 'replica-outside', group: 'B' } },
    ]);
    expect(
      relay.from('n1', 'group.B', { type: 'group-quorum', group: 'B', heardFromMajority: false }),
    ).toEqual([
      {
        target: address('n1', 'replica'),
        body: { type: 'replica-quorum', group: 'B', heardFromMajority: false },
      },
    ]);
    expect(relay.state()).toMatchObject({ views: 1, outside: 1, quorum: 1, ignored: 0 });
  });

  it('replica → membership: divergence becomes remove-member, a refused promotion step-down of that epoch - 1', () => {
    const relay = relayHarness();
    const diverged = { type: 'diverged', replica: 'n1', group: 'B', position: 12, reason: 'digest' };
    expect(relay.from('n1', 'replica', diverged)).toEqual([
      {
        target: address('n1', 'group.B'),
        body: { type: 'remove-member', node: 'n1', reason: 'diverged at position 12: digest' },
      },
    ]);
    const refused = { type: 'refused-promotion', replica: 'n1', group: 'B', epoch: 5 };
    expect(relay.from('n1', 'replica', refused)).toEqual([
      {
        target: address('n1', 'group.B'),
        body: { type: 'step-down', epoch: 4, reason: 'the replica here waits for its state transfer' },
      },
    ]);
    expect(relay.from('n1', 'replica', { type: 'promoted', replica: 'n1', group: 'B', epoch: 5 })).toEqual(
      [],
    );
    expect(relay.state()).toMatchObject({ removals: 1, stepDowns: 1, ignored: 0 });
  });

  it('ignores (and counts) notices from another node and bodies it does not know', () => {
    const relay = relayHarness();
    expect(relay.from('n2', 'group.B', { type: 'group-outside', group: 'B', version: 9 })).toEqual([]);
    expect(
      relay.from('n2', 'replica', { type: 'refused-promotion', replica: 'n1', group: 'B', epoch: 5 }),
    ).toEqual([]);
    expect(relay.from('n1', 'group.B', { type: 'group-view', group: 'B' })).toEqual([]);
    expect(relay.from('n1', 'x', 'not an object')).toEqual([]);
    // A peer must not stop (or resume) this node's primary; nor may a malformed notice.
    expect(
      relay.from('n2', 'group.B', { type: 'group-quorum', group: 'B', heardFromMajority: false }),
    ).toEqual([]);
    expect(
      relay.from('n1', 'group.B', { type: 'group-quorum', group: 'B', heardFromMajority: 'no' }),
    ).toEqual([]);
    expect(relay.state()).toMatchObject({ views: 0, outside: 0, quorum: 0, stepDowns: 0, ignored: 6 });
  });
});
