// Unit tests of the pure connection endpoint (seed 001, claims 36, 37, 58-62, 65), driven by hand
// through a cluster of pure endpoints: every packet and timer is an explicit step of the test.
import { nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import {
  bufferedMessages,
  createEndpoint,
  deliveredEverywhere,
  detachPiggyback,
  installView,
  membersBehindEpoch,
  missingFrom,
  multicast,
  needsSync,
  receivePacket,
  step,
  streamKey,
  takeEffects,
} from './endpoint.js';
import { multicastCommandInput } from './actor.js';
import { PureCluster } from './pure-cluster.test-support.js';
import type { ForOtherGroups, Packet } from './types.js';
import { packetFromEnvelope, packetToEnvelope } from './wire-format.js';

const n = nodeId;

/** A connection between a group of 3 and a group of 2, established (every member admitted). */
function threeAndTwo(views: 'own' | 'both' = 'both', windowMax = 8) {
  const cluster = new PureCluster({
    groups: { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] },
    views,
    settings: { windowMax },
  });
  cluster.settle();
  for (const state of cluster.endpoints.values()) expect(state.admitted).toBe(true);
  return cluster;
}

describe('multicast endpoint: delivery (claim 36)', () => {
  it('delivers a message to every replica of both groups, the sender included, exactly once', () => {
    const cluster = threeAndTwo();
    const result = cluster.multicast(n('a1'), { op: 1 }, 'async-request');
    expect(result).toEqual({ ok: true, id: { origin: 'a1', incarnation: 1, sequence: 1 } });
    // One packet per other member: a sender fans out to both groups itself.
    expect(cluster.inFlight.map((flight) => flight.target).sort()).toEqual(['a2', 'a3', 'b1', 'b2']);
    cluster.settle();
    for (const node of ['a1', 'a2', 'a3', 'b1', 'b2']) {
      const delivered = cluster.delivered.get(n(node))!;
      expect(delivered, node).toHaveLength(1);
      expect(delivered[0]).toMatchObject({ kind: 'async-request', payload: { op: 1 }, group: 'A' });
    }
  });

  it('keeps each sender order and drops duplicates by id when packets are duplicated and reordered', () => {
    const cluster = threeAndTwo();
    for (let op = 1; op <= 5; op++) cluster.multicast(n('b2'), op);
    // Deliver the packets newest first, each twice.
    const copies = [...cluster.inFlight].reverse();
    cluster.inFlight.length = 0;
    cluster.inFlight.push(...copies, ...copies);
    cluster.settle();
    for (const node of ['a1', 'a2', 'a3', 'b1', 'b2'])
      expect(cluster.deliveredFrom(n(node), 'b2:1'), node).toEqual([1, 2, 3, 4, 5]);
    expect(cluster.endpoints.get(n('a1'))!.counters.duplicates).toBeGreaterThan(0);
  });

  it('detects a gap, NACKs it and delivers in order after the retransmission', () => {
    const cluster = threeAndTwo();
    cluster.multicast(n('a1'), 'first');
    cluster.multicast(n('a1'), 'second');
    // Lose the first message on its way to b1.
    const lost = cluster.inFlight.findIndex(
      (flight) => flight.target === 'b1' && flight.packet.data[0]?.id.sequence === 1,
    );
    cluster.drop(lost);
    const second = cluster.inFlight.findIndex((flight) => flight.target === 'b1');
    cluster.deliver(second);
    expect(cluster.deliveredFrom(n('b1'), 'a1:1')).toEqual([]);
    const b1 = cluster.endpoints.get(n('b1'))!;
    expect(b1.counters.nacksSent).toBe(1);
    cluster.settle();
    expect(cluster.deliveredFrom(n('b1'), 'a1:1')).toEqual(['first', 'second']);
    expect(cluster.endpoints.get(n('a1'))!.counters.retransmissions).toBeGreaterThanOrEqual(1);
  });

  it('finds a lost tail (the last message lost) through the sync exchange', () => {
    const cluster = threeAndTwo();
    cluster.multicast(n('a1'), 'only');
    cluster.drop(cluster.inFlight.findIndex((flight) => flight.target === 'b2'));
    cluster.settle();
    expect(cluster.deliveredFrom(n('b2'), 'a1:1')).toEqual(['only']);
  });
});

describe('multicast endpoint: stability, garbage collection and flow control', () => {
  it('drains every retransmission buffer once all members acknowledged (GC of stable messages)', () => {
    const cluster = threeAndTwo();
    cluster.multicast(n('a1'), 1);
    cluster.multicast(n('b1'), 2);
    expect(bufferedMessages(cluster.endpoints.get(n('a1'))!)).toBeGreaterThan(0);
    cluster.settle();
    for (const [node, state] of cluster.endpoints) {
      expect(bufferedMessages(state), node).toBe(0);
      expect(needsSync(state), node).toBe(false);
      expect(state.streams['a1:1']).toMatchObject({ delivered: 1, stable: 1 });
    }
  });

  it('deliveredEverywhere holds for a message once every member of both groups acknowledged it, not before', () => {
    const cluster = threeAndTwo();
    const sent = cluster.multicast(n('b1'), 'carrier');
    expect(sent.ok).toBe(true);
    if (!sent.ok) return;
    const id = sent.id;
    // Delivered at the sender at once, and at a receiver on arrival: neither knows about the others yet.
    cluster.deliver(cluster.inFlight.findIndex((flight) => flight.target === 'a1'));
    for (const state of cluster.endpoints.values()) expect(deliveredEverywhere(state, id)).toBe(false);
    cluster.settle();
    for (const [node, state] of cluster.endpoints) expect(deliveredEverywhere(state, id), node).toBe(true);
    // A later message of the same stream is not covered by the earlier one's stability.
    expect(deliveredEverywhere(cluster.endpoints.get(n('a1'))!, { ...id, sequence: id.sequence + 1 })).toBe(
      false,
    );
    // Nor is a stream this endpoint never heard of.
    expect(deliveredEverywhere(cluster.endpoints.get(n('a1'))!, { ...id, origin: n('b9') })).toBe(false);
  });

  it('answers window-full once windowMax messages are unstable, and accepts more once they are acknowledged', () => {
    const cluster = threeAndTwo('both', 4);
    for (let op = 1; op <= 4; op++) expect(cluster.multicast(n('a2'), op).ok).toBe(true);
    const full = cluster.multicast(n('a2'), 5);
    expect(full).toEqual({ ok: false, error: { type: 'window-full', unstable: 4, windowMax: 4 } });
    expect(cluster.endpoints.get(n('a2'))!.counters.windowFull).toBe(1);
    cluster.settle();
    expect(cluster.multicast(n('a2'), 5).ok).toBe(true);
    cluster.settle();
    expect(cluster.deliveredFrom(n('b1'), 'a2:1')).toEqual([1, 2, 3, 4, 5]);
  });

  it('stays blocked by a crashed member until a view without it is installed', () => {
    const cluster = threeAndTwo('both', 2);
    cluster.crash(n('b2'));
    cluster.multicast(n('a1'), 1);
    cluster.multicast(n('a1'), 2);
    cluster.run(500);
    expect(cluster.multicast(n('a1'), 3).ok).toBe(false);
    cluster.changeView('B', ['b1']);
    cluster.settle();
    expect(cluster.multicast(n('a1'), 3).ok).toBe(true);
    cluster.settle();
    expect(cluster.deliveredFrom(n('b1'), 'a1:1')).toEqual([1, 2, 3]);
  });

  it('piggybacks acknowledgements on data going the same way instead of sending them alone', () => {
    const cluster = threeAndTwo();
    const controlBefore = cluster.endpoints.get(n('b1'))!.counters.controlPackets;
    cluster.multicast(n('a1'), 'request');
    const toB1 = cluster.inFlight.findIndex((flight) => flight.target === 'b1');
    cluster.deliver(toB1);
    const b1 = cluster.endpoints.get(n('b1'))!;
    expect(b1.owed).toHaveProperty('a1');
    cluster.multicast(n('b1'), 'reply');
    // The reply's packet to a1 carries b1's acknowledgement; nothing is owed to a1 any more.
    const reply = cluster.inFlight.find((flight) => flight.source === 'b1' && flight.target === 'a1')!;
    expect(reply.packet.control.acks['a1:1']).toBe(1);
    expect(b1.owed).not.toHaveProperty('a1');
    expect(b1.counters.controlPackets).toBe(controlBefore);
  });
});

describe('multicast endpoint: views and peers (claims 37, 65)', () => {
  it('learns the other group from a contact: the sender never names its members (claim 37)', () => {
    const cluster = threeAndTwo('own');
    cluster.multicast(n('a3'), 'hello');
    cluster.settle();
    const a3 = cluster.endpoints.get(n('a3'))!;
    expect(a3.views['B']?.members).toEqual(['b1', 'b2']);
    for (const node of ['a1', 'a2', 'a3', 'b1', 'b2'])
      expect(cluster.deliveredFrom(n(node), 'a3:1'), node).toEqual(['hello']);
  });

  it('re-sends a crashed sender message from a peer that has it to one that lacks it (claim 65)', () => {
    const cluster = threeAndTwo();
    cluster.multicast(n('b1'), 'last words');
    // Only a2 receives it before b1 crashes.
    const kept = cluster.inFlight.filter((flight) => flight.target === 'a2');
    cluster.inFlight.length = 0;
    cluster.inFlight.push(...kept);
    cluster.crash(n('b1'));
    cluster.run(500);
    cluster.changeView('B', ['b2']);
    cluster.settle();
    for (const node of ['a1', 'a2', 'a3', 'b2'])
      expect(cluster.deliveredFrom(n(node), 'b1:1'), node).toEqual(['last words']);
    expect(cluster.endpoints.get(n('a2'))!.counters.retransmissions).toBeGreaterThan(0);
    for (const [node, state] of cluster.endpoints) expect(bufferedMessages(state), node).toBe(0);
  });

  it('missingFrom names the streams a peer holds more of, and is empty once they are fetched (claim 65)', () => {
    const cluster = threeAndTwo();
    cluster.multicast(n('b1'), 'only at a2');
    const kept = cluster.inFlight.filter((flight) => flight.target === 'a2');
    cluster.inFlight.length = 0;
    cluster.inFlight.push(...kept);
    cluster.crash(n('b1'));
    cluster.deliver(0);
    const a1 = cluster.endpoints.get(n('a1'))!;
    const a2 = cluster.endpoints.get(n('a2'))!;
    expect(missingFrom(a2)).toEqual([]);
    expect(missingFrom(a1)).toEqual([]);
    // a2's sync carries its acknowledgements: once a1 reads them, it knows a2 holds more than it has.
    cluster.fire(n('a2'), 'sync');
    const toA1 = cluster.inFlight.findIndex((flight) => flight.source === 'a2' && flight.target === 'a1');
    cluster.deliver(toA1);
    expect(missingFrom(a1)).toEqual([
      { stream: 'b1:1', delivered: 0, highest: 1, holders: ['a2'], waiting: 0 },
    ]);
    cluster.run(500);
    cluster.changeView('B', ['b2']);
    cluster.settle();
    expect(missingFrom(a1)).toEqual([]);
    expect(cluster.deliveredFrom(n('a1'), 'b1:1')).toEqual(['only at a2']);
  });

  it('membersBehindEpoch lists the members that have not yet reported a view, and empties as they learn it', () => {
    const cluster = threeAndTwo();
    const a1 = cluster.endpoints.get(n('a1'))!;
    expect(membersBehindEpoch(a1, 'A', 1)).toEqual([]);
    cluster.changeView('A', ['a1', 'a2', 'a3']);
    const epoch = a1.views['A']!.epoch;
    expect(membersBehindEpoch(a1, 'A', epoch).sort()).toEqual(['a2', 'a3', 'b1', 'b2']);
    cluster.multicast(n('a1'), 'announce the view');
    cluster.settle();
    expect(membersBehindEpoch(a1, 'A', epoch)).toEqual([]);
  });

  it('starts a restarted member (a new incarnation) from the stable point and fences its old incarnation', () => {
    const cluster = threeAndTwo();
    cluster.multicast(n('a1'), 1);
    cluster.settle();
    const oldPacket = cluster.inFlight.length;
    expect(oldPacket).toBe(0);
    // b2@1 sends a message and crashes; its packet to a1 is delayed past the restart.
    cluster.multicast(n('b2'), 'old');
    const delayed = cluster.inFlight.filter((flight) => flight.target === 'a1');
    cluster.inFlight.splice(
      0,
      cluster.inFlight.length,
      ...cluster.inFlight.filter((flight) => flight.target !== 'a1'),
    );
    cluster.settle();
    cluster.crash(n('b2'));
    cluster.start(n('b2'), 'B', 2);
    cluster.multicast(n('a1'), 2);
    cluster.settle();
    // The new incarnation skipped what was stable before it came (message 1) and got message 2.
    expect(cluster.deliveredFrom(n('b2'), 'a1:1')).toEqual([2]);
    const a1 = cluster.endpoints.get(n('a1'))!;
    const fencedBefore = a1.counters.fenced;
    for (const flight of delayed) receivePacket(a1, structuredClone(flight.packet));
    expect(a1.counters.fenced).toBe(fencedBefore + delayed.length);
    // The old incarnation's message reached a1 anyway, relayed by peers: once, in order.
    expect(cluster.deliveredFrom(n('a1'), 'b2:1')).toEqual(['old']);
    cluster.settle();
    for (const [node, state] of cluster.endpoints) {
      expect(state.streams['b2:1'], node).toBeUndefined();
      expect(bufferedMessages(state), node).toBe(0);
    }
  });

  it('delivers a message to a member added by a new view, from the stable point on', () => {
    const cluster = new PureCluster({ groups: { A: ['a1', 'a2'], B: ['b1'] }, views: 'both' });
    cluster.multicast(n('a1'), 'before');
    cluster.settle();
    cluster.start(n('b9'), 'B', 1);
    cluster.changeView('B', ['b1', 'b9']);
    cluster.multicast(n('a1'), 'after');
    cluster.settle();
    expect(cluster.deliveredFrom(n('b9'), 'a1:1')).toEqual(['after']);
    expect(cluster.deliveredFrom(n('b1'), 'a1:1')).toEqual(['before', 'after']);
  });

  it('refuses to multicast while this replica is in no view of its group', () => {
    const state = createEndpoint({
      connection: 'c',
      groups: ['A', 'B'],
      group: 'A',
      self: n('a1'),
      incarnation: 1,
    });
    expect(multicast(state, 1, { kind: 'one-way' })).toEqual({
      ok: false,
      error: { type: 'not-member', group: 'A' },
    });
    installView(state, { group: 'A', epoch: 1, members: [n('a2')], primary: n('a2') });
    expect(multicast(state, 1, { kind: 'one-way' })).toMatchObject({ ok: false });
    expect(() => installView(state, { group: 'C', epoch: 1, members: [n('a2')], primary: n('a2') })).toThrow(
      /not on this connection/,
    );
  });
});

describe('multicast endpoint: piggyback and null messages (claims 58-62)', () => {
  it('carries attached data on the next message, which delivers it to every replica', () => {
    const cluster = threeAndTwo();
    cluster.attachPiggyback(n('a1'), 'order', ['m1', 'm2']);
    cluster.multicast(n('a1'), 'reply', 'async-reply');
    cluster.settle();
    for (const node of ['a2', 'b1']) {
      const message = cluster.delivered.get(n(node))!.find((delivered) => delivered.kind === 'async-reply');
      expect(message?.piggyback, node).toEqual({ order: ['m1', 'm2'] });
    }
    const a1 = cluster.endpoints.get(n('a1'))!;
    expect(a1.counters).toMatchObject({ dataMessages: 1, nullMessages: 0 });
    expect(cluster.timers.get(n('a1'))!.has('null-message')).toBe(false);
  });

  it('sends a null message when nothing is multicast within the bound, and counts it apart', () => {
    const cluster = threeAndTwo();
    const a1 = cluster.endpoints.get(n('a1'))!;
    cluster.attachPiggyback(n('a1'), 'order', 'o1');
    cluster.attachPiggyback(n('a1'), 'order', 'o1+o2');
    cluster.settle();
    for (const node of ['a2', 'a3', 'b1', 'b2']) {
      const nulls = cluster.delivered.get(n(node))!.filter((message) => message.kind === 'null');
      expect(
        nulls.map((message) => message.piggyback),
        node,
      ).toEqual([{ order: 'o1+o2' }]);
    }
    expect(a1.counters).toMatchObject({ dataMessages: 0, nullMessages: 1 });
  });
});

describe("multicast endpoint: data for the sender's own group only (forOtherGroups)", () => {
  /** What each member got under the piggyback of the messages of a1's stream, by member. */
  function piggybacksOfA1(cluster: PureCluster, nodes: readonly string[]) {
    return Object.fromEntries(
      nodes.map((node) => [
        node,
        cluster.delivered
          .get(n(node))!
          .filter((message) => message.id.origin === 'a1')
          .map((message) => message.piggyback),
      ]),
    );
  }

  it("sends members outside the sender's group the other form, and its own group the data (invariant: every member still gets every message)", () => {
    const cluster = threeAndTwo();
    cluster.attachPiggyback(n('a1'), 'order', 'o1');
    cluster.attachPiggyback(n('a1'), 'checkpoint', 'the whole state', null);
    cluster.multicast(n('a1'), 'reply 1', 'async-reply');
    cluster.attachPiggyback(n('a1'), 'checkpoint', 'the whole state again', { data: 'its position' });
    cluster.multicast(n('a1'), 'reply 2', 'async-reply');
    cluster.settle();
    const own = [{ order: 'o1', checkpoint: 'the whole state' }, { checkpoint: 'the whole state again' }];
    const others = [{ order: 'o1' }, { checkpoint: 'its position' }];
    expect(piggybacksOfA1(cluster, ['a1', 'a2', 'a3', 'b1', 'b2'])).toEqual({
      a1: own,
      a2: own,
      a3: own,
      b1: others,
      b2: others,
    });
  });

  it('sends the other group a null message with nothing in it when nothing else was attached, so its stream has no gap', () => {
    const cluster = threeAndTwo();
    cluster.attachPiggyback(n('a1'), 'checkpoint', 'the whole state', null);
    cluster.settle(); // the null-message timer fires: a null message carries the checkpoint
    cluster.multicast(n('a1'), 'next', 'one-way');
    cluster.settle();
    for (const node of ['b1', 'b2']) {
      const delivered = cluster.delivered.get(n(node))!.filter((message) => message.id.origin === 'a1');
      expect(
        delivered.map((message) => [message.kind, message.piggyback]),
        node,
      ).toEqual([
        ['null', null],
        ['one-way', null],
      ]);
    }
    expect(piggybacksOfA1(cluster, ['a2'])).toEqual({ a2: [{ checkpoint: 'the whole state' }, null] });
  });

  it("retransmits its own message to each member in that member's form (invariant: a lost copy comes back as the first would have)", () => {
    const cluster = threeAndTwo();
    cluster.attachPiggyback(n('a1'), 'checkpoint', 'the whole state', { data: 'its position' });
    cluster.multicast(n('a1'), 'reply', 'async-reply');
    // Every first copy is lost: each member gets the message from a1's retransmission buffer.
    while (cluster.inFlight.some((flight) => flight.source === 'a1' && flight.packet.data.length > 0))
      cluster.drop(
        cluster.inFlight.findIndex((flight) => flight.source === 'a1' && flight.packet.data.length > 0),
      );
    cluster.settle();
    expect(cluster.endpoints.get(n('a1'))!.counters.retransmissions).toBeGreaterThanOrEqual(4);
    const own = [{ checkpoint: 'the whole state' }];
    const others = [{ checkpoint: 'its position' }];
    expect(piggybacksOfA1(cluster, ['a2', 'a3', 'b1', 'b2'])).toEqual({
      a2: own,
      a3: own,
      b1: others,
      b2: others,
    });
  });

  it("takes the other form from the endpoint actor's mc-piggyback command too, and refuses a malformed one", () => {
    const command = { type: 'mc-piggyback', key: 'checkpoint', data: 'state' } as const;
    expect(multicastCommandInput(command)).toEqual({
      type: 'attach-piggyback',
      key: 'checkpoint',
      data: 'state',
    });
    expect(multicastCommandInput({ ...command, forOtherGroups: null })).toEqual({
      type: 'attach-piggyback',
      key: 'checkpoint',
      data: 'state',
      forOtherGroups: null,
    });
    expect(multicastCommandInput({ ...command, forOtherGroups: { data: 'its position' } })).toMatchObject({
      forOtherGroups: { data: 'its position' },
    });
    for (const malformed of [5, 'x', {}, { position: 1 }])
      expect(
        multicastCommandInput({ ...command, forOtherGroups: malformed as unknown as ForOtherGroups }),
      ).toBeUndefined();
  });

  it("holds its own group's copies with ownGroupDelayMs and batches with holdSends, each in its member's form", () => {
    const cluster = new PureCluster({
      groups: { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] },
      views: 'both',
      settings: { windowMax: 64, ownGroupDelayMs: 2 },
    });
    cluster.settle();
    cluster.hold(n('a1'));
    cluster.attachPiggyback(n('a1'), 'checkpoint', 'the whole state', null);
    cluster.multicast(n('a1'), 'reply 1', 'async-reply');
    cluster.multicast(n('a1'), 'reply 2', 'async-reply');
    cluster.release(n('a1'));
    cluster.settle();
    const own = [{ checkpoint: 'the whole state' }, null];
    expect(piggybacksOfA1(cluster, ['a2', 'a3', 'b1', 'b2'])).toEqual({
      a2: own,
      a3: own,
      b1: [null, null],
      b2: [null, null],
    });
    expect(cluster.endpoints.get(n('a1'))!.counters.deferredSends).toBeGreaterThan(0);
  });
});

describe('multicast endpoint: detaching piggyback data', () => {
  it('withdraws attached data before any message carried it: no null message goes out', () => {
    const cluster = threeAndTwo();
    const a1 = cluster.endpoints.get(n('a1'))!;
    cluster.attachPiggyback(n('a1'), 'order', 'stale');
    expect(detachPiggyback(a1, 'order')).toBe('stale');
    expect(detachPiggyback(a1, 'order')).toBeUndefined();
    takeEffects(a1);
    cluster.settle();
    for (const node of ['a2', 'b1'])
      expect(
        cluster.delivered.get(n(node))!.filter((message) => message.kind === 'null'),
        node,
      ).toEqual([]);
    expect(a1.counters.nullMessages).toBe(0);
  });

  it('keeps the other keys attached when one is detached', () => {
    const cluster = threeAndTwo();
    const a1 = cluster.endpoints.get(n('a1'))!;
    cluster.attachPiggyback(n('a1'), 'order', 'o1');
    cluster.attachPiggyback(n('a1'), 'relay', 'r1');
    detachPiggyback(a1, 'order');
    cluster.multicast(n('a1'), 'reply', 'async-reply');
    cluster.settle();
    const message = cluster.delivered.get(n('b1'))!.find((delivered) => delivered.kind === 'async-reply');
    expect(message?.piggyback).toEqual({ relay: 'r1' });
  });
});

describe('multicast endpoint: step and wire format', () => {
  it('dispatches inputs through step and returns the multicast result with its effects', () => {
    const state = createEndpoint({
      connection: 'c',
      groups: ['A', 'B'],
      group: 'A',
      self: n('a1'),
      incarnation: 3,
    });
    step(state, {
      type: 'view-installed',
      view: { group: 'A', epoch: 1, members: [n('a1')], primary: n('a1') },
    });
    const outcome = step(state, { type: 'multicast', kind: 'one-way', payload: 'x' });
    expect(outcome.result).toEqual({ ok: true, id: { origin: 'a1', incarnation: 3, sequence: 1 } });
    expect(outcome.effects.map((effect) => effect.type)).toContain('deliver');
    expect(streamKey({ origin: n('a1'), incarnation: 3 })).toBe('a1:3');
    expect(takeEffects(state)).toEqual([]);
  });

  it('round-trips a packet through the envelope body and header, and rejects malformed ones', () => {
    const cluster = threeAndTwo();
    cluster.multicast(n('a1'), { deep: [1, 2] });
    const packet = cluster.inFlight[0]!.packet;
    const { body, header } = packetToEnvelope(packet);
    expect(packetFromEnvelope(structuredClone(body), structuredClone(header))).toEqual(packet);
    expect(packetFromEnvelope(body, {})).toBeUndefined();
    expect(packetFromEnvelope({ ...body, incarnation: -1 }, header)).toBeUndefined();
    const badData = { ...body, data: [{ ...packet.data[0], kind: 'shout' }] };
    expect(packetFromEnvelope(badData, header)).toBeUndefined();
  });

  it('counts a packet for another connection as misrouted and ignores it', () => {
    const cluster = threeAndTwo();
    cluster.multicast(n('a1'), 1);
    const flight = cluster.inFlight[0]!;
    const wrong: Packet = { ...flight.packet, connection: 'X<->Y' };
    const target = cluster.endpoints.get(flight.target)!;
    receivePacket(target, wrong);
    expect(target.counters.misrouted).toBe(1);
    expect(target.counters.delivered).toBe(0);
  });
});
